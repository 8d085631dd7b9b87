//! `nc [-u] <ipv4> <port>` / `nc [-u] -l <port>`: a TCP connection (or, with `-u`, UDP
//! datagrams) between the terminal and a host.
//!
//! It connects (or, with `-l`, waits for one connection on the port), then sends each line
//! typed and prints what comes back: after each line, whatever arrives within a short quiet
//! period. At the end of input (Ctrl-D) it closes its side and prints what the peer still
//! sends until it closes too. A run can wait on only one thing at a time, so the socket is
//! opened non-blocking and read in turns with the terminal.
//!
//! With `-u` each typed line is one datagram: to the host and port given, or, with `-l`, back
//! to whoever sent the last datagram to the port (so a UDP listener first waits for one).
//! Datagrams that arrive are printed as they are. UDP has no end: Ctrl-D ends `nc` after a
//! last short wait.
//!
//! Exits 0 when the connection ended normally; errors (`connection refused`, `host
//! unreachable`) are printed as `nc: <why>` and exit 1.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::report;
use text::Text;
use zb_sdk::Error;
use zb_sdk::fs::{File, OpenFlags, stdin};
use zb_sdk::io::{Stream, write_all};

zb_sdk::entry!(main);

/// How long the peer may stay silent before `nc` goes back to the terminal.
const QUIET_MS: u64 = 300;
/// How long `nc` waits for the peer to finish after the end of input.
const DRAIN_MS: u64 = 2_000;

fn main() -> i32 {
    report("nc", run())
}

#[inline(never)]
fn run() -> Result<(), Error> {
    let mut argbuf = [0u8; 64];
    let args = zb_sdk::args(&mut argbuf)?;
    let word = |i| args.get(i).and_then(|a| core::str::from_utf8(a).ok());
    let mut urlbuf = [0u8; 64];
    let mut url = Text::new(&mut urlbuf);
    let udp = word(0) == Some("-u");
    let first = usize::from(udp);
    let scheme = if udp { "udp://" } else { "tcp://" };
    let listen = word(first) == Some("-l");
    match (word(first), word(first + 1), word(first + 2)) {
        (Some("-l"), Some(port), None) => {
            url.push_str(scheme)
                .push_str("0.0.0.0:")
                .push_str(port)
                .push_str("?listen");
        }
        (Some(host), Some(port), None) if !host.starts_with('-') => {
            url.push_str(scheme)
                .push_str(host)
                .push_str(":")
                .push_str(port);
        }
        _ => {
            write_all(
                Stream::Stderr,
                b"usage: nc [-u] <ipv4> <port> | nc [-u] -l <port>\n",
            )?;
            return Err(Error::InvalidArgument);
        }
    }
    let flags = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::NONBLOCK;
    let mut sock = File::open(url.as_str(), flags)?;
    // A listener's client may speak first; a UDP listener waits for its first datagram, as a
    // TCP listener's open waits for its connection.
    if !relay(&mut sock, QUIET_MS, udp && listen)? {
        return Ok(());
    }
    let mut line = [0u8; 256];
    loop {
        let n = stdin().read(&mut line)?;
        if n == 0 {
            break;
        }
        // What arrived while the line was typed comes first (for a UDP listener it also
        // decides whom the line answers).
        if !relay(&mut sock, 0, false)? {
            return Ok(());
        }
        send(&mut sock, &line[..n])?;
        if !relay(&mut sock, QUIET_MS, false)? {
            return Ok(());
        }
    }
    // End of input: what the peer still has to say.
    relay(&mut sock, DRAIN_MS, false)?;
    Ok(())
}

/// Writes all of `data`, waiting for room.
fn send(sock: &mut File, mut data: &[u8]) -> Result<(), Error> {
    while !data.is_empty() {
        match sock.write(data) {
            Ok(n) => data = &data[n..],
            Err(Error::WouldBlock) => zb_sdk::sleep_ms(5)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Prints what arrives until the peer has been quiet for `quiet_ms` (counted from the first
/// arrival if `wait_first`); false once the peer has closed the connection.
#[inline(never)]
fn relay(sock: &mut File, quiet_ms: u64, mut wait_first: bool) -> Result<bool, Error> {
    let mut buf = [0u8; 512];
    let mut last = zb_sdk::clock_us();
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                write_all(Stream::Stdout, &buf[..n])?;
                last = zb_sdk::clock_us();
                wait_first = false;
            }
            Err(Error::WouldBlock) => {
                if !wait_first && zb_sdk::clock_us().saturating_sub(last) >= quiet_ms * 1000 {
                    return Ok(true);
                }
                zb_sdk::sleep_ms(10)?;
            }
            Err(e) => return Err(e),
        }
    }
}
