//! What the bus programs (`emit`, `sub`, `log`, `req`) share: their arguments, option
//! parsing, error reports and the way an event is printed. Each program includes it
//! (`#[path = "../buscli.rs"] mod buscli;`) and links only what it uses: code is what a run
//! costs on a microcontroller (it is compiled into the kernel heap at several times its size),
//! so every program is kept to one job.

#![allow(dead_code)]

use zb_sdk::Error;
use zb_sdk::bus::{self, EventView};
use zb_sdk::io::{BufWriter, Stream};

/// Bytes for one delivered event: the head, a subject and a payload of a few hundred bytes.
/// (Programs have a 2 KiB stack, shared with the arguments; a larger event is refused with
/// its size.)
pub const EVENT_BUF: usize = 512;

/// The program's arguments as words, into `words` (at most its length); `None` if they are
/// not UTF-8 or too many.
pub fn words<'a>(argbuf: &'a mut [u8], words: &mut [&'a str]) -> Option<usize> {
    let args = zb_sdk::args(argbuf).ok()?;
    let mut n = 0;
    for a in args.iter() {
        *words.get_mut(n)? = core::str::from_utf8(a).ok()?;
        n += 1;
    }
    Some(n)
}

/// Exit status of `result`, reporting an error as `<name>: <error>: <the kernel's reason>`.
#[inline(never)]
pub fn report(name: &str, result: Result<(), Error>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            let mut why = [0u8; 160];
            let why = bus::last_error(&mut why);
            let mut w = BufWriter::<64>::new(Stream::Stderr);
            w.push_str(name).push_str(": ").push_str(e.message());
            if !why.is_empty() {
                w.push_str(": ").push_str(why);
            }
            w.push_str("\n");
            1
        }
    }
}

/// Prints `usage`; the exit status of a malformed command line.
pub fn usage(usage: &str) -> i32 {
    zb_sdk::io::eprint_str(usage);
    2
}

/// What `options` found besides the options text.
#[derive(Default)]
pub struct Flags {
    pub limit: Option<u64>,
    pub fail: bool,
    pub durable: bool,
}

/// `--name value` options into a `key=value` options text (`InvalidArgument` for anything
/// else: the caller prints its usage); returns the text's length and the
/// other flags.
pub fn options(rest: &[&str], buf: &mut [u8]) -> Result<(usize, Flags), Error> {
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
            return Err(Error::InvalidArgument);
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
                flags.limit = Some(parse_u64(value).ok_or(Error::InvalidArgument)?);
                i += 2;
                continue;
            }
            _ => return Err(Error::InvalidArgument),
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

pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// `500ms`, `2s` or a plain number of milliseconds.
pub fn parse_ms(s: &str) -> Option<u64> {
    if let Some(ms) = s.strip_suffix("ms") {
        return parse_u64(ms);
    }
    if let Some(secs) = s.strip_suffix('s') {
        return parse_u64(secs)?.checked_mul(1000);
    }
    parse_u64(s)
}

#[inline(never)]
pub fn print_event(e: &EventView<'_>) {
    let payload = core::str::from_utf8(e.payload).unwrap_or("<binary>");
    // Small: it writes through when full (the program's stack is 2 KiB).
    let mut w = BufWriter::<64>::new(Stream::Stdout);
    w.push_u64(e.seq)
        .push_str(" ")
        .push_str(e.name)
        .push_str(" ")
        .push_str(payload);
    // An event imported from another node says where it was emitted.
    if let Some(node) = e.source.strip_prefix("node:") {
        w.push_str(" (from ").push_str(node).push_str(")");
    }
    if e.attempt > 1 {
        w.push_str(" (attempt ")
            .push_u64(u64::from(e.attempt))
            .push_str(")");
    }
    w.push_str("\n");
}
