//! `log <pattern> [--from N] [--limit N]`: prints the events in the journal matching
//! `pattern` (`*` is one token, `>` the rest) as `<seq> <subject> <payload>`, from the oldest
//! kept (or sequence number N), 20 at most by default, then ends.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{EVENT_BUF, options, print_event, report, usage, words};
use zb_sdk::Error;
use zb_sdk::bus::Subscription;

zb_sdk::entry!(main);

const USAGE: &str = "usage: log <pattern> [--from N] [--limit N]\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 384];
    let mut words_buf = [""; 8];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    let [pattern, rest @ ..] = words_buf.get(..n).unwrap_or(&[]) else {
        return usage(USAGE);
    };
    let mut opts = [0u8; 64];
    let Ok((len, flags)) = options(rest, &mut opts) else {
        return usage(USAGE);
    };
    if flags.durable || flags.fail {
        return usage(USAGE);
    }
    let text = opts.get(..len).unwrap_or(&[]);
    let has_from = text.starts_with(b"from=") || text.windows(6).any(|w| w == b"\nfrom=");
    let opts = core::str::from_utf8(text).unwrap_or("");
    // Without --from: from the oldest event kept.
    let opts = if has_from { opts } else { "from=all" };
    report("log", log(pattern, opts, flags.limit.unwrap_or(20)))
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
fn log(pattern: &str, opts: &str, limit: u64) -> Result<(), Error> {
    let mut s = Subscription::new(pattern, opts)?;
    let mut buf = [0u8; EVENT_BUF];
    let mut shown = 0;
    while shown < limit {
        match s.try_next(&mut buf) {
            Ok(event) => print_event(&event),
            Err(Error::WouldBlock) => break,
            Err(e) => return Err(e),
        }
        shown += 1;
    }
    Ok(())
}
