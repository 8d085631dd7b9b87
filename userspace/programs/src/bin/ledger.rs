//! `ledger`: the example ledger app's command handler (started by init).
//!
//! It takes `ledger.transfer.requested {"from","to","amount"}` commands from the durable
//! subscription `ledger-cmd` and decides each against the view `ledger.balances` (folded by
//! `ledger-view`): if `from` can pay, it emits `ledger.transfer.completed` (the view then moves
//! the money); if not, `ledger.transfer.rejected` with the reason. Each outcome carries the
//! command's sequence number as its `causation_id` and `idempotency_key=cmd-<seq>`, so a
//! command handled again (redelivered after a crash before its ack) cannot move money twice.
//! Then it acknowledges the command. Money comes in with `emit ledger.deposited
//! '{"account":"alice","amount":10}'`.
//!
//! init starts it at boot and whenever commands are committed while it is not running; it
//! handles what there is and ends after [`IDLE_MS`] without a new command (`ledger --stay`
//! keeps handling commands until it is stopped).
#![no_std]
#![no_main]

#[path = "../text.rs"]
mod text;

use text::Text;
use zb_sdk::Error;
use zb_sdk::bus::{self, Subscription};

zb_sdk::entry!(main);

/// How long the handler waits for another command before it ends, in ms. init starts it
/// again when the next one is committed (`start-on` in /etc/init.manifest), so between
/// bursts of commands it holds no memory.
const IDLE_MS: u64 = 100;
/// How often it looks for a command meanwhile, in ms.
const POLL_MS: u64 = 20;

fn main() -> Result<(), Error> {
    // `--stay`: handle commands until stopped, never ending when idle.
    let mut argbuf = [0u8; 64];
    let stay = zb_sdk::args(&mut argbuf).is_ok_and(|args| args.iter().any(|a| a == b"--stay"));
    let mut commands = subscribe()?;
    let mut buf = [0u8; 512];
    let mut idle_ms = 0;
    loop {
        let next = if stay {
            commands.next(&mut buf)
        } else {
            commands.try_next(&mut buf)
        };
        let (seq, outcome) = match next {
            Ok(cmd) => (cmd.seq, handle(cmd.seq, cmd.payload)),
            Err(Error::WouldBlock) if idle_ms < IDLE_MS => {
                zb_sdk::sleep_ms(POLL_MS)?;
                idle_ms += POLL_MS;
                continue;
            }
            Err(Error::WouldBlock) => return Ok(()),
            Err(e) => return Err(e),
        };
        idle_ms = 0;
        outcome?;
        commands.ack(seq, true)?;
    }
}

/// The durable subscription `ledger-cmd`. One handler holds it at a time (`Busy` for another):
/// a second one waits up to 5 s for the first to end.
fn subscribe() -> Result<Subscription, Error> {
    let mut waited_ms = 0;
    loop {
        match Subscription::new("ledger.transfer.requested", "durable=ledger-cmd\nfrom=all") {
            Err(Error::Busy) if waited_ms < 5_000 => {
                zb_sdk::sleep_ms(50)?;
                waited_ms += 50;
            }
            other => return other,
        }
    }
}

/// Decides command `seq` and emits its outcome.
#[inline(never)]
fn handle(seq: u64, payload: &[u8]) -> Result<(), Error> {
    let text = core::str::from_utf8(payload).map_err(|_| Error::InvalidArgument)?;
    let field = |key| zb_json::get(text, key).ok().flatten();
    let from = field("from").and_then(|v| v.as_plain_str()).unwrap_or("");
    let to = field("to").and_then(|v| v.as_plain_str()).unwrap_or("");
    let amount = field("amount").and_then(|v| v.as_i64()).unwrap_or(0);
    let balance = balance_of(from)?;
    let mut out_raw = [0u8; 256];
    let mut out = Text::new(&mut out_raw);
    out.push_str("{\"from\":\"")
        .push_str(from)
        .push_str("\",\"to\":\"")
        .push_str(to)
        .push_str("\",\"amount\":")
        .push_i64(amount);
    let subject = if amount <= balance {
        "ledger.transfer.completed"
    } else {
        out.push_str(",\"reason\":\"insufficient funds: ")
            .push_str(from)
            .push_str(" has ")
            .push_i64(balance)
            .push_str(", needs ")
            .push_i64(amount)
            .push_str("\"");
        "ledger.transfer.rejected"
    };
    out.push_str("}");
    let mut headers_raw = [0u8; 64];
    let mut headers = Text::new(&mut headers_raw);
    headers
        .push_str("causation_id=")
        .push_u64(seq)
        .push_str("\nidempotency_key=cmd-")
        .push_u64(seq);
    bus::emit(subject, out.as_str(), headers.as_str())?;
    Ok(())
}

/// `account`'s balance in the view `ledger.balances` (0 for an account it does not know).
///
/// On a small board the kernel may page the view out to make room for other runs, and page it
/// in again only when there is room (`OutOfMemory` until then): the answer is waited for,
/// 20 ms doubling to 1 s between tries, for about half a minute before giving up (the command
/// then stays unacknowledged and comes again).
fn balance_of(account: &str) -> Result<i64, Error> {
    let mut answer = [0u8; 96];
    let mut wait_ms = 20;
    let mut waited_ms = 0;
    loop {
        match bus::scan("ledger.balances", account, &mut answer) {
            Ok(json) => {
                return Ok(zb_json::get(json, "balance")
                    .ok()
                    .flatten()
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0));
            }
            Err(Error::NotFound) => return Ok(0),
            Err(Error::OutOfMemory) if waited_ms < 30_000 => {
                zb_sdk::sleep_ms(wait_ms)?;
                waited_ms += wait_ms;
                wait_ms = (wait_ms * 2).min(1000);
            }
            Err(e) => return Err(e),
        }
    }
}
