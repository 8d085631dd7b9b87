//! `req <subject> <json> [--timeout 500ms|2s|N]`: request/reply over the bus. Emits the
//! request with a `reply_to` header naming a fresh inbox subject (`_INBOX.<pid>.<clock>`) and
//! prints the payload of the first reply, or fails after the timeout (default 1 s).
//! `--to NODE` addresses the request to another node of a federation, `--cap CAPABILITY` to
//! the node the resolver picks for it (the `to`/`cap` header the federation link reads).
//!
//! `req --serve <pattern> [--queue NAME]`: an echo service — answers every request matching
//! `pattern` with its own payload (printing each request as `sub` does), until stopped. With
//! `--queue`, several servers share the requests.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::{EVENT_BUF, options, parse_ms, print_event, report, usage, words};
use text::Text;
use zb_sdk::Error;
use zb_sdk::bus::{self, Subscription};
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

const USAGE: &str = "usage: req <subject> <json> [--timeout 500ms] [--to NODE | --cap CAPABILITY]\n       req --serve <pattern> [--queue NAME]\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 320];
    let mut words_buf = [""; 8];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    let result = match words_buf.get(..n).unwrap_or(&[]) {
        ["--serve", pattern, rest @ ..] => {
            let mut opts = [0u8; 64];
            let Ok((len, _)) = options(rest, &mut opts) else {
                return usage(USAGE);
            };
            let opts = core::str::from_utf8(opts.get(..len).unwrap_or(&[])).unwrap_or("");
            serve(pattern, opts)
        }
        [subject, payload, rest @ ..] if rest.len() % 2 == 0 => {
            let (mut timeout_ms, mut target) = (1000, ("", ""));
            for pair in rest.chunks(2) {
                match pair {
                    ["--timeout", t] => match parse_ms(t).filter(|&ms| ms > 0 && ms <= 3_600_000) {
                        Some(ms) => timeout_ms = ms,
                        None => return usage(USAGE),
                    },
                    ["--to", node] => target = ("to", node),
                    ["--cap", cap] => target = ("cap", cap),
                    _ => return usage(USAGE),
                }
            }
            request(subject, payload, timeout_ms, target)
        }
        _ => return usage(USAGE),
    };
    report("req", result)
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
fn request(
    subject: &str,
    payload: &str,
    timeout_ms: u64,
    (key, target): (&str, &str),
) -> Result<(), Error> {
    // A fresh inbox: this run's pid and the clock make it unique.
    let (mut inbox_raw, mut opts_raw, mut header_raw) = ([0u8; 48], [0u8; 32], [0u8; 176]);
    let mut inbox = Text::new(&mut inbox_raw);
    inbox
        .push(b"_INBOX.")
        .push_u64(zb_sdk::getpid() as u64)
        .push(b".")
        .push_u64(zb_sdk::clock_us());
    let mut opts = Text::new(&mut opts_raw);
    opts.push(b"wait_ms=").push_u64(timeout_ms);
    let mut replies = Subscription::new(inbox.as_str(), opts.as_str())?;
    let mut header = Text::new(&mut header_raw);
    header.push(b"reply_to=").push_str(inbox.as_str());
    if !key.is_empty() {
        header.push(b"\n").push_str(key).push(b"=").push_str(target);
    }
    bus::emit(subject, payload, header.as_str())?;
    // Smaller than a subscriber's: this frame also holds the inbox, options and header.
    let mut buf = [0u8; 384];
    match replies.next(&mut buf) {
        Ok(reply) => {
            let text = core::str::from_utf8(reply.payload).unwrap_or("<binary>");
            let mut w = BufWriter::<64>::new(Stream::Stdout);
            w.push_str(text).push_str("\n");
            Ok(())
        }
        Err(Error::TimedOut) => {
            let mut w = BufWriter::<96>::new(Stream::Stderr);
            w.push_str("req: timed out: no reply to ")
                .push_str(subject)
                .push_str(" within ")
                .push_u64(timeout_ms)
                .push_str(" ms\n");
            drop(w);
            zb_sdk::exit(1)
        }
        Err(e) => Err(e),
    }
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
fn serve(pattern: &str, opts: &str) -> Result<(), Error> {
    let mut requests = Subscription::new(pattern, opts)?;
    let mut buf = [0u8; EVENT_BUF];
    loop {
        let event = requests.next(&mut buf)?;
        print_event(&event);
        let Some(to) = event.header("reply_to") else {
            continue;
        };
        let payload = core::str::from_utf8(event.payload).map_err(|_| Error::InvalidArgument)?;
        let mut raw = [0u8; 32];
        let mut cause = Text::new(&mut raw);
        cause.push(b"causation_id=").push_u64(event.seq);
        bus::emit(to, payload, cause.as_str())?;
    }
}
