//! `tcpbench recv <port>` / `tcpbench send <ipv4> <port> <bytes>`: TCP throughput through the
//! net service, for `cargo xtask bench`.
//!
//! `recv` waits for one connection on the port, reads until the peer closes, and prints
//! `tcpbench: received <bytes> bytes in <us> us`; `send` connects, writes `bytes` bytes and
//! closes, printing `tcpbench: sent <bytes> bytes in <us> us`. The clock starts at the first
//! byte (recv) or once connected (send).
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::{parse_u64, report};
use text::Text;
use zb_sdk::Error;
use zb_sdk::fs::{File, OpenFlags};
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> i32 {
    report("tcpbench", run())
}

#[inline(never)]
fn run() -> Result<(), Error> {
    let mut argbuf = [0u8; 96];
    let args = zb_sdk::args(&mut argbuf)?;
    let word = |i| args.get(i).and_then(|a| core::str::from_utf8(a).ok());
    let mut urlbuf = [0u8; 64];
    let mut url = Text::new(&mut urlbuf);
    let mut buf = [0u8; 1024];
    match (word(0), word(1), word(2), word(3)) {
        (Some("recv"), Some(port), None, None) => {
            url.push_str("tcp://0.0.0.0:")
                .push_str(port)
                .push_str("?listen");
            let mut sock = File::open(url.as_str(), OpenFlags::READ | OpenFlags::WRITE)?;
            let mut total = 0u64;
            let mut start = None;
            loop {
                let n = sock.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                start.get_or_insert_with(zb_sdk::clock_us);
                total += n as u64;
            }
            let us = zb_sdk::clock_us().saturating_sub(start.unwrap_or(0));
            print("received", total, us);
        }
        (Some("send"), Some(host), Some(port), Some(bytes)) => {
            let total = parse_u64(bytes).ok_or(Error::InvalidArgument)?;
            url.push_str("tcp://")
                .push_str(host)
                .push_str(":")
                .push_str(port);
            let mut sock = File::open(url.as_str(), OpenFlags::READ | OpenFlags::WRITE)?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = b'a' + (i % 26) as u8;
            }
            let start = zb_sdk::clock_us();
            let mut left = total;
            while left > 0 {
                let n = (left as usize).min(buf.len());
                sock.write_all(&buf[..n])?;
                left -= n as u64;
            }
            drop(sock);
            print("sent", total, zb_sdk::clock_us().saturating_sub(start));
        }
        _ => {
            zb_sdk::io::eprint_str(
                "usage: tcpbench recv <port> | tcpbench send <ipv4> <port> <bytes>\n",
            );
            return Err(Error::InvalidArgument);
        }
    }
    Ok(())
}

fn print(what: &str, bytes: u64, us: u64) {
    BufWriter::<96>::new(Stream::Stdout)
        .push_str("tcpbench: ")
        .push_str(what)
        .push_str(" ")
        .push_u64(bytes)
        .push_str(" bytes in ")
        .push_u64(us)
        .push_str(" us\n");
}
