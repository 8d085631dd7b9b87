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
#![no_std]
#![no_main]

#[path = "../text.rs"]
mod text;

use text::Text;
use zb_sdk::Error;
use zb_sdk::bus::{self, Subscription};

zb_sdk::entry!(main);

fn main() -> Result<(), Error> {
    let mut commands =
        Subscription::new("ledger.transfer.requested", "durable=ledger-cmd\nfrom=all")?;
    let mut buf = [0u8; 512];
    loop {
        let (seq, outcome) = {
            let cmd = commands.next(&mut buf)?;
            (cmd.seq, handle(cmd.seq, cmd.payload))
        };
        outcome?;
        commands.ack(seq, true)?;
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
    let mut answer = [0u8; 96];
    let balance = match bus::scan("ledger.balances", from, &mut answer) {
        Ok(json) => zb_json::get(json, "balance")
            .ok()
            .flatten()
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        Err(Error::NotFound) => 0,
        Err(e) => return Err(e),
    };
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
