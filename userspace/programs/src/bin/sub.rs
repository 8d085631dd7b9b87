//! `sub <pattern> [--queue NAME] [--from N|all] [--durable NAME [--max-deliver N]
//! [--ack-wait-ms N] [--fail]]`: prints the events matching `pattern` (`*` is one token, `>`
//! the rest) as they are committed, as `<seq> <subject> <payload>`, until stopped (Ctrl-C).
//!
//! A durable subscription acknowledges each event once printed — or, with `--fail`, reports it
//! failed: it comes again after a backoff (shown as `(attempt N)`) and, after `max-deliver`
//! deliveries, goes to `dlq.<NAME>.<subject>`.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{EVENT_BUF, options, print_event, report, usage, words};
use zb_sdk::Error;
use zb_sdk::bus::Subscription;

zb_sdk::entry!(main);

const USAGE: &str = "usage: sub <pattern> [--queue NAME] [--from N|all] [--durable NAME [--max-deliver N] [--ack-wait-ms N] [--fail]]\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 384];
    let mut words_buf = [""; 12];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    let [pattern, rest @ ..] = words_buf.get(..n).unwrap_or(&[]) else {
        return usage(USAGE);
    };
    let mut opts = [0u8; 96];
    let Ok((len, flags)) = options(rest, &mut opts) else {
        return usage(USAGE);
    };
    let opts = core::str::from_utf8(opts.get(..len).unwrap_or(&[])).unwrap_or("");
    report("sub", sub(pattern, opts, flags.durable, flags.fail))
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
fn sub(pattern: &str, opts: &str, durable: bool, fail: bool) -> Result<(), Error> {
    let mut s = Subscription::new(pattern, opts)?;
    let mut buf = [0u8; EVENT_BUF];
    loop {
        let seq = {
            let event = s.next(&mut buf)?;
            print_event(&event);
            event.seq
        };
        if durable {
            s.ack(seq, !fail)?;
        }
    }
}
