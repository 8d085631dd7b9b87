//! `emit <subject> <json> [key=value …]`: appends an event to the journal and prints its
//! sequence number once it is durable, with `(duplicate)` when its `idempotency_key` header
//! was seen before. Header words set `idempotency_key`, `correlation_id`, `causation_id`,
//! `tenant`, `version`, or headers of your own.
//!
//! `emit --burst <subject> <n>` emits `n` events `{"i":k}` one after the other and prints
//! `acked <seq> i=<k>` as each becomes durable (the crash tests kill the machine mid-burst and
//! check that every acknowledged event is still there).
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::{parse_u64, report, usage, words};
use text::Text;
use zb_sdk::Error;
use zb_sdk::bus;
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

const USAGE: &str =
    "usage: emit <subject> <json> [key=value ...]\n       emit --burst <subject> <n>\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 512];
    let mut words_buf = [""; 12];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    let result = match words_buf.get(..n).unwrap_or(&[]) {
        ["--burst", subject, n] => match parse_u64(n) {
            Some(n) => burst(subject, n),
            None => return usage(USAGE),
        },
        [subject, payload, headers @ ..] => emit(subject, payload, headers),
        _ => return usage(USAGE),
    };
    report("emit", result)
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
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
    if done.not_durable {
        w.push_str(" (not durable: the journal is in RAM)");
    }
    w.push_str("\n");
    Ok(())
}

// Not inlined into `main`: each command's buffers then share one stack region with the
// others' (programs have a 2 KiB stack).
#[inline(never)]
fn burst(subject: &str, n: u64) -> Result<(), Error> {
    for k in 0..n {
        let mut raw = [0u8; 32];
        let mut payload = Text::new(&mut raw);
        payload.push(b"{\"i\":").push_u64(k).push(b"}");
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
