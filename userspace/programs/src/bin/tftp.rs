//! `tftp <ipv4> <file>`: fetches a file from a TFTP server (RFC 1350, octet mode, read only)
//! over `udp://<ipv4>:69` and writes it to stdout.
//!
//! The exchange: a read request, then DATA blocks of 512 bytes, each acknowledged; a shorter
//! block ends the file. A block that does not come within a second is asked for again (the
//! last packet is sent again), five times at most. The server's own error (`File not found`,
//! `Access violation`) is printed as `tftp: <message>` and exits 1; so does a timeout.
//!
//! QEMU's user network has a TFTP server on its gateway (10.0.2.2) when started with
//! `tftp=<dir>`; it is one of the few UDP peers `restrict=on` lets a guest reach.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::report;
use text::Text;
use zb_sdk::Error;
use zb_sdk::fs::{File, OpenFlags};
use zb_sdk::io::{Stream, write_all};

zb_sdk::entry!(main);

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
/// The block size of plain RFC 1350 (no options are negotiated).
const BLOCK: usize = 512;
/// How long a block may take before the last packet is sent again.
const RETRY_US: u64 = 1_000_000;
const TRIES: u32 = 5;

fn main() -> i32 {
    match run() {
        Ok(done) => done,
        Err(e) => report("tftp", Err(e)),
    }
}

/// Fetches the file; 0, or 1 once the reason has been printed.
#[inline(never)]
fn run() -> Result<i32, Error> {
    let mut argbuf = [0u8; 160];
    let args = zb_sdk::args(&mut argbuf)?;
    let (Some(host), Some(name), None) = (args.get_str(0), args.get(1), args.get(2)) else {
        write_all(Stream::Stderr, b"usage: tftp <ipv4> <file>\n")?;
        return Err(Error::InvalidArgument);
    };
    if name.is_empty() || name.len() > 100 || name.contains(&0) {
        write_all(Stream::Stderr, b"tftp: a file name is 1 to 100 bytes\n")?;
        return Err(Error::InvalidArgument);
    }
    let mut urlbuf = [0u8; 40];
    let mut url = Text::new(&mut urlbuf);
    url.push_str("udp://").push_str(host).push_str(":69");
    let flags = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::NONBLOCK;
    let mut sock = File::open(url.as_str(), flags)?;

    // The read request: opcode, name, 0, "octet", 0.
    // `last` is the packet to send again if the answer does not come.
    let mut last = [0u8; 2 + 100 + 7];
    let mut last_len = Text::new(&mut last)
        .push(&RRQ.to_be_bytes())
        .push(name)
        .push(b"\0octet\0")
        .len();

    let mut packet = [0u8; 4 + BLOCK];
    let mut expected: u16 = 1;
    loop {
        let Some(n) = exchange(&mut sock, &last[..last_len], &mut packet)? else {
            write_all(Stream::Stderr, b"tftp: no answer from the server\n")?;
            return Ok(1);
        };
        let op = u16::from_be_bytes([packet[0], packet[1]]);
        let number = u16::from_be_bytes([packet[2], packet[3]]);
        match op {
            DATA if number == expected => {
                write_all(Stream::Stdout, &packet[4..n])?;
                last[..2].copy_from_slice(&ACK.to_be_bytes());
                last[2..4].copy_from_slice(&number.to_be_bytes());
                last_len = 4;
                if n - 4 < BLOCK {
                    // The last block: acknowledge it, and done.
                    send(&mut sock, &last[..4])?;
                    return Ok(0);
                }
                expected = expected.wrapping_add(1);
            }
            // A block already written (our acknowledgement was lost): wait for the next.
            DATA => {}
            ERROR => {
                let text = &packet[4..n];
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                write_all(Stream::Stderr, b"tftp: ")?;
                write_all(Stream::Stderr, &text[..end])?;
                write_all(Stream::Stderr, b"\n")?;
                return Ok(1);
            }
            _ => {
                write_all(
                    Stream::Stderr,
                    b"tftp: the server sent a packet out of turn\n",
                )?;
                return Ok(1);
            }
        }
    }
}

/// Sends `packet` and waits for an answer of at least 4 bytes, sending `packet` again each
/// second without one; the answer's length, or `None` if none came.
fn exchange(sock: &mut File, packet: &[u8], answer: &mut [u8]) -> Result<Option<usize>, Error> {
    for _ in 0..TRIES {
        send(sock, packet)?;
        let sent = zb_sdk::clock_us();
        while zb_sdk::clock_us().saturating_sub(sent) < RETRY_US {
            match sock.read(answer) {
                Ok(n) if n >= 4 => return Ok(Some(n)),
                Ok(_) => {} // too short to be TFTP: ignored
                Err(Error::WouldBlock) => zb_sdk::sleep_ms(5)?,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// Sends one datagram, waiting for room in the socket's buffer.
fn send(sock: &mut File, packet: &[u8]) -> Result<(), Error> {
    loop {
        match sock.write(packet) {
            Ok(_) => return Ok(()),
            Err(Error::WouldBlock) => zb_sdk::sleep_ms(5)?,
            Err(e) => return Err(e),
        }
    }
}
