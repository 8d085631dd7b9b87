//! `pressure hoard|flood|chanloop …`: puts the kernel under the pressures the isolation tests
//! need, in a program small enough to run on the STM32F4 beside others (the syscall fuzzer,
//! `sysfuzz`, is not):
//! - `pressure hoard [order] [scratch-KiB]` holds as much of every pool as it is given, in
//!   `order` (letters; default `psftnc`): `p` `proc://` snapshots, `s` subscriptions, `f` open
//!   files (`/etc/motd`; the first is read once with the largest buffer the scratch zone
//!   allows, default 8 KiB), `t` timers (`sfh<N>`, re-armed so they never fire while it
//!   lives), `n` UDP sockets, `c` channels — each until refused — prints
//!   `pressure: hoard: p=8/12 s=8/5 …` (held / the error code that stopped it) and sleeps
//!   until killed;
//! - `pressure flood [bytes]` writes to stdout forever, `bytes` at a time (default a 64-byte
//!   line), until Ctrl-C or `kill`;
//! - `pressure chanloop [rounds] [bytes]` is the channel-end-in-its-own-channel loop: a
//!   channel, its end B sent through its end A with a `bytes`-byte message (default 60000;
//!   must be refused), a plain message of that size, both ends closed, `rounds` times
//!   (default 1000); prints `pressure: chanloop: N rounds, N sends refused, M messages sent`,
//!   exit 0 only if every such send was refused.
//!
//! The calls go straight to the HOST imports with ranges in the scratch zone (see
//! `scratch.rs`), as the fuzzer's do.
#![no_std]
#![no_main]

#[path = "../scratch.rs"]
mod scratch;

use scratch::Scratch;
use zb_abi::scheme::MAX_IO;
use zb_abi::syscall::{MAX_MESSAGE, NONBLOCK, nr};
use zb_sdk::io::{BufWriter, Stream};
use zb_sdk::{Error, raw_error, sys};

zb_sdk::entry!(main);

/// Where in the scratch zone: handle arrays (and the two ends `channel_create` writes, at
/// `HSLOT + 160`), then two text slots.
const HSLOT: i64 = 0;
const T0: i64 = 256;
const T1: i64 = 1536;

const PATTERN: &[u8] = b"pressure: ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n";

fn main() -> i32 {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf).unwrap_or_default();
    let num = |i: usize| args.get_u64(i).and_then(Result::ok);
    let mut s = Scratch::ZERO;
    let grow = |s: &mut Scratch, bytes: i64| {
        if !s.grow(bytes) {
            zb_sdk::io::eprint_str("pressure: no room in the kernel heap for the scratch zone\n");
            sys::exit(3);
        }
    };
    match args.get(0) {
        Some(b"hoard") => {
            grow(&mut s, (num(2).unwrap_or(8) as i64).saturating_mul(1024));
            hoard(&s, args.get(1).unwrap_or(b"psftnc"))
        }
        Some(b"flood") => {
            let n = num(1).unwrap_or(PATTERN.len() as u64) as usize;
            let piece = PATTERN.get(PATTERN.len() - n.clamp(1, PATTERN.len())..);
            let piece = piece.unwrap_or(PATTERN);
            loop {
                if zb_sdk::io::write(Stream::Stdout, piece).is_err() {
                    return 1;
                }
            }
        }
        Some(b"chanloop") => {
            let bytes = num(2).unwrap_or(60_000).min(MAX_MESSAGE as u64) as i64;
            grow(&mut s, bytes);
            chanloop(&s, num(1).unwrap_or(1000), bytes)
        }
        _ => {
            zb_sdk::io::eprint_str(
                "usage: pressure hoard [order] [scratch-KiB] | flood [bytes] | chanloop [rounds] [bytes]\n",
            );
            2
        }
    }
}

/// Makes call `n` with `a` (every range in the scratch zone or only read by the kernel).
fn call(n: u32, a: &[i64; 6]) -> i64 {
    // SAFETY: the ranges these calls write (channel_create's two ends, read's buffer) are in
    // the scratch zone, which no Rust object occupies; the others are only read.
    unsafe { scratch::raw_call(n, a) }
}

/// Prints `text` then `n`.
fn out(line: &mut BufWriter<160>, text: &str, n: u64) {
    line.push_str(text).push_u64(n);
}

/// Holds as much of each pool in `order` as it is given, prints what it holds (and the error
/// code that stopped each), then sleeps until killed.
fn hoard(s: &Scratch, order: &[u8]) -> ! {
    let mut line = BufWriter::<160>::new(Stream::Stdout);
    line.push_str("pressure: hoard:");
    let mut timers = 0;
    for &pool in order {
        let mut held = 0u32;
        let mut why = 0;
        let most = if pool == b't' || pool == b'n' {
            64
        } else {
            300
        };
        while held < most {
            let (n, a) = match pool {
                b'p' | b'f' => {
                    let url: &[u8] = if pool == b'p' {
                        b"proc://self/status"
                    } else {
                        b"/etc/motd"
                    };
                    let (u, l) = s.put_text(T0, url);
                    (nr::OPEN, [u, l, 1, 0, 0, 0])
                }
                b's' => {
                    let (p, pl) = s.put_text(T0, b"sf.hoard");
                    let (o, ol) = s.put_text(T1, b"wait_ms=1");
                    (nr::SUBSCRIBE, [p, pl, o, ol, 0, 0])
                }
                b't' => (nr::TIMER, hoard_timer(s, held)),
                b'n' => {
                    let (u, l) = s.put_text(T0, b"udp://0.0.0.0:71");
                    let l = l + s.two(u + l, held);
                    let l = l + s.put(u + l, b"?listen");
                    (nr::OPEN, [u, l, 0x83, 0, 0, 0])
                }
                b'c' => (nr::CHANNEL_CREATE, [s.base + HSLOT, 0, 0, 0, 0, 0]),
                _ => break,
            };
            let r = call(n, &a);
            if r < 0 {
                why = r.unsigned_abs();
                break;
            }
            if pool == b'f' && held == 0 {
                // The largest read the scratch zone allows, once.
                let len = (s.end - s.base).min(MAX_IO as i64);
                call(nr::READ, &[r, s.base, len, 0, 0, 0]);
            }
            held += 1;
        }
        if pool == b't' {
            timers = held;
        }
        line.push_str(" ").push(&[pool]);
        out(&mut line, "=", held.into());
        out(&mut line, "/", why);
    }
    line.push_str(" sleeping\n");
    drop(line);
    loop {
        // Timers fire after 2 s: re-armed, they never do while this run lives.
        for i in 0..timers {
            call(nr::TIMER, &hoard_timer(s, i));
        }
        sys::sleep(500_000);
    }
}

/// The spec `sfh<i> after 2s`, as `timer` arguments.
fn hoard_timer(s: &Scratch, i: u32) -> [i64; 6] {
    let (t, l) = s.put_text(T0, b"sfh");
    let l = l + s.two(t + l, i);
    let l = l + s.put(t + l, b" after 2s");
    [t, l, 0, 0, 0, 0]
}

/// The loop, `rounds` times: a channel, its end B sent through its end A with a
/// `bytes`-byte message (must be refused), a plain message of that size, both ends closed.
/// Prints how many sends were refused; 0 if all were, else 1.
fn chanloop(s: &Scratch, rounds: u64, bytes: i64) -> i32 {
    let (mut refused, mut sent, mut bad) = (0u64, 0u64, 0u64);
    let (base, ends) = (s.base, s.base + HSLOT + 160);
    for _ in 0..rounds {
        if call(nr::CHANNEL_CREATE, &[ends, 0, 0, 0, 0, 0]) < 0 {
            bad += 1;
            break;
        }
        let (a, b) = (i64::from(s.peek32(ends)), i64::from(s.peek32(ends + 4)));
        s.poke32(base + HSLOT, b as u32);
        let nb = NONBLOCK.into();
        let r = call(nr::SEND, &[a, base, bytes, base + HSLOT, 1, nb]);
        if r == raw_error(Error::InvalidArgument) {
            refused += 1;
        } else {
            bad += 1;
        }
        if call(nr::SEND, &[a, base, bytes, 0, 0, nb]) >= 0 {
            sent += 1;
        }
        call(nr::CLOSE, &[a, 0, 0, 0, 0, 0]);
        call(nr::CLOSE, &[b, 0, 0, 0, 0, 0]);
    }
    let mut line = BufWriter::<160>::new(Stream::Stdout);
    out(&mut line, "pressure: chanloop: ", rounds);
    out(&mut line, " rounds, ", refused);
    out(&mut line, " sends refused, ", sent);
    line.push_str(" messages sent\n");
    i32::from(bad > 0)
}
