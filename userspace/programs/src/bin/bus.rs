//! `bus`: the event bus from the command line. The shell's `emit`, `sub` and `log` commands
//! run it (`emit x '{}'` is `bus emit x '{}'`).
//!
//! - `bus emit <subject> <json> [key=value …]`: appends an event (headers such as
//!   `idempotency_key=…`) and prints its sequence number once it is durable, with
//!   `(duplicate)` when the idempotency key was seen before.
//! - `bus sub <pattern> [--queue NAME] [--from N|all] [--durable NAME [--max-deliver N]
//!   [--ack-wait-ms N] [--fail]]`: prints matching events as they are committed, until stopped
//!   (Ctrl-C). A durable subscription acknowledges each event once printed — or, with
//!   `--fail`, reports it failed, so it comes again after a backoff and, after `max-deliver`
//!   deliveries, goes to `dlq.<NAME>.<subject>`.
//! - `bus log <pattern> [--from N] [--limit N]`: prints the matching events in the journal
//!   (from the oldest kept, 20 at most, by default), then ends.
//! - `bus burst <subject> <n>`: emits `n` events `{"i":k}` one after the other, printing
//!   `acked <seq> i=<k>` as each becomes durable (the crash tests kill the machine mid-burst
//!   and check that every acknowledged event is still there).
//!
//! An event prints as `<seq> <subject> <payload>`. A refused call prints the kernel's reason
//! (`last_error`) and exits 1. No `core::fmt`: output is built with `BufWriter`, which keeps
//! the program small (its code is compiled into the kernel heap).
#![no_std]
#![no_main]

use zb_sdk::Error;
use zb_sdk::bus::{self, EventView, Subscription};
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

/// Bytes for one delivered event: the head, a subject and a payload of a few hundred bytes.
/// (Programs have a 2 KiB stack, shared with the arguments; a larger event is refused with
/// its size.)
const EVENT_BUF: usize = 512;

const USAGE: &str = "usage: bus emit <subject> <json> [key=value ...]\n       bus sub <pattern> [--queue NAME] [--from N|all] [--durable NAME [--max-deliver N] [--ack-wait-ms N] [--fail]]\n       bus log <pattern> [--from N] [--limit N]\n       bus burst <subject> <n>\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 512];
    let Ok(args) = zb_sdk::args(&mut argbuf) else {
        return usage();
    };
    let mut words = [""; 10];
    let mut n = 0;
    for a in args.iter() {
        let (Some(slot), Ok(word)) = (words.get_mut(n), core::str::from_utf8(a)) else {
            return usage();
        };
        *slot = word;
        n += 1;
    }
    let words = words.get(..n).unwrap_or(&[]);
    let result = match words {
        ["emit", subject, payload, headers @ ..] => emit(subject, payload, headers),
        ["sub", pattern, rest @ ..] => sub(pattern, rest),
        ["log", pattern, rest @ ..] => log(pattern, rest),
        ["burst", subject, n] => match parse_u64(n) {
            Some(n) => burst(subject, n),
            None => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let mut why = [0u8; 160];
            let why = bus::last_error(&mut why);
            let mut w = BufWriter::<256>::new(Stream::Stderr);
            w.push_str("bus: ").push_str(e.message());
            if !why.is_empty() {
                w.push_str(": ").push_str(why);
            }
            w.push_str("\n");
            1
        }
    }
}

fn usage() -> i32 {
    zb_sdk::io::eprint_str(USAGE);
    2
}

fn emit(subject: &str, payload: &str, headers: &[&str]) -> Result<(), Error> {
    // The headers as `key=value` lines.
    let mut lines = [0u8; 256];
    let mut len = 0;
    for (i, h) in headers.iter().enumerate() {
        let sep: &[u8] = if i > 0 { b"\n" } else { b"" };
        for part in [sep, h.as_bytes()] {
            let end = len + part.len();
            lines
                .get_mut(len..end)
                .ok_or(Error::TooLarge)?
                .copy_from_slice(part);
            len = end;
        }
    }
    let lines = core::str::from_utf8(lines.get(..len).unwrap_or(&[]))
        .map_err(|_| Error::InvalidArgument)?;
    let done = bus::emit(subject, payload, lines)?;
    let mut w = BufWriter::<48>::new(Stream::Stdout);
    w.push_u64(done.seq);
    if done.duplicate {
        w.push_str(" (duplicate)");
    }
    w.push_str("\n");
    Ok(())
}

/// What `options` found besides the options text.
#[derive(Default)]
struct Flags {
    limit: Option<u64>,
    fail: bool,
    durable: bool,
}

/// `--name value` options into a `key=value` options text; returns the text's length and the
/// other flags.
fn options(rest: &[&str], buf: &mut [u8]) -> Result<(usize, Flags), Error> {
    let mut len = 0;
    let mut flags = Flags::default();
    let mut i = 0;
    while i < rest.len() {
        if rest.get(i) == Some(&"--fail") {
            flags.fail = true;
            i += 1;
            continue;
        }
        let (Some(flag), Some(value)) = (rest.get(i), rest.get(i + 1)) else {
            return Err(bad_usage());
        };
        let key: &[u8] = match *flag {
            "--queue" => b"queue=",
            "--durable" => {
                flags.durable = true;
                b"durable="
            }
            "--max-deliver" if parse_u64(value).is_some() => b"max_deliver=",
            "--ack-wait-ms" if parse_u64(value).is_some() => b"ack_wait_ms=",
            "--from" if parse_u64(value).is_some() || matches!(*value, "all" | "new") => b"from=",
            "--limit" => {
                flags.limit = Some(parse_u64(value).ok_or_else(bad_usage)?);
                i += 2;
                continue;
            }
            _ => return Err(bad_usage()),
        };
        let sep: &[u8] = if len > 0 { b"\n" } else { b"" };
        for part in [sep, key, value.as_bytes()] {
            let end = len + part.len();
            buf.get_mut(len..end)
                .ok_or(Error::TooLarge)?
                .copy_from_slice(part);
            len = end;
        }
        i += 2;
    }
    Ok((len, flags))
}

/// Prints the usage; the error for a malformed command line.
fn bad_usage() -> Error {
    zb_sdk::io::eprint_str(USAGE);
    Error::InvalidArgument
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

fn sub(pattern: &str, rest: &[&str]) -> Result<(), Error> {
    let mut opts = [0u8; 96];
    let (len, flags) = options(rest, &mut opts)?;
    let opts =
        core::str::from_utf8(opts.get(..len).unwrap_or(&[])).map_err(|_| Error::InvalidArgument)?;
    let mut s = Subscription::new(pattern, opts)?;
    let mut buf = [0u8; EVENT_BUF];
    loop {
        let seq = {
            let event = s.next(&mut buf)?;
            print_event(&event);
            event.seq
        };
        if flags.durable {
            s.ack(seq, !flags.fail)?;
        }
    }
}

fn log(pattern: &str, rest: &[&str]) -> Result<(), Error> {
    let mut opts = [0u8; 96];
    let (len, flags) = options(rest, &mut opts)?;
    let limit = flags.limit;
    let text = opts.get(..len).unwrap_or(&[]);
    let has_from = text.starts_with(b"from=") || text.windows(6).any(|w| w == b"\nfrom=");
    let opts = core::str::from_utf8(text).map_err(|_| Error::InvalidArgument)?;
    // Without --from: from the oldest event kept.
    let mut s = Subscription::new(pattern, if has_from { opts } else { "from=all" })?;
    let limit = limit.unwrap_or(20);
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

fn burst(subject: &str, n: u64) -> Result<(), Error> {
    for k in 0..n {
        let mut payload = BufText::<32>::new();
        payload.push(b"{\"i\":");
        payload.push_u64(k);
        payload.push(b"}");
        let done = bus::emit(subject, payload.as_str(), "")?;
        let mut w = BufWriter::<48>::new(Stream::Stdout);
        w.push_str("acked ")
            .push_u64(done.seq)
            .push_str(" i=")
            .push_u64(k)
            .push_str("\n");
    }
    Ok(())
}

/// A little text built in place.
struct BufText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> BufText<N> {
    fn new() -> Self {
        BufText {
            buf: [0; N],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while let Some(d) = i.checked_sub(1).and_then(|j| digits.get_mut(j)) {
            *d = b'0' + (v % 10) as u8;
            i -= 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or(&[]));
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

fn print_event(e: &EventView<'_>) {
    let payload = core::str::from_utf8(e.payload).unwrap_or("<binary>");
    // Small: it writes through when full (the program's stack is 2 KiB).
    let mut w = BufWriter::<64>::new(Stream::Stdout);
    w.push_u64(e.seq)
        .push_str(" ")
        .push_str(e.name)
        .push_str(" ")
        .push_str(payload);
    if e.attempt > 1 {
        w.push_str(" (attempt ")
            .push_u64(u64::from(e.attempt))
            .push_str(")");
    }
    w.push_str("\n");
}
