//! `ping <ipv4> [count]`: sends `count` ICMP echo requests (default 4), one a second, through
//! the net service (`net://ping/<ipv4>`), and prints each reply with its round-trip time, or
//! that none came. Exits 0 if any reply came, 1 if none did.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::report;
use text::Text;
use zb_sdk::fs::{File, OpenFlags};
use zb_sdk::io::{BufWriter, Stream, write_all};

zb_sdk::entry!(main);

fn main() -> i32 {
    match run() {
        Ok(0) => 1,
        Ok(_) => 0,
        Err(e) => report("ping", Err(e)),
    }
}

/// Pings; how many replies came.
#[inline(never)]
fn run() -> Result<u64, zb_sdk::Error> {
    let mut argbuf = [0u8; 64];
    let args = zb_sdk::args(&mut argbuf)?;
    let Some(target) = args.get(0).and_then(|a| core::str::from_utf8(a).ok()) else {
        write_all(Stream::Stderr, b"usage: ping <ipv4 address> [count]\n")?;
        return Err(zb_sdk::Error::InvalidArgument);
    };
    let count = args.get_u64(1).unwrap_or(Ok(4))?.clamp(1, 100);
    let mut urlbuf = [0u8; 48];
    let mut url = Text::new(&mut urlbuf);
    url.push_str("net://ping/").push_str(target);
    let mut echo = File::open(url.as_str(), OpenFlags::READ)?;
    let mut replies = 0u64;
    let mut line = [0u8; 128];
    for i in 0..count {
        let t0 = zb_sdk::clock_us();
        let n = echo.read(&mut line)?;
        let text = &line[..n];
        if !text.starts_with(b"no reply") {
            replies += 1;
        }
        write_all(Stream::Stdout, text)?;
        // One a second: the next leaves a second after this one did.
        if i + 1 < count {
            let spent = zb_sdk::clock_us().saturating_sub(t0);
            zb_sdk::sleep_us(1_000_000u64.saturating_sub(spent))?;
        }
    }
    BufWriter::<96>::new(Stream::Stdout)
        .push_str("--- ")
        .push_str(target)
        .push_str(": ")
        .push_u64(count)
        .push_str(" sent, ")
        .push_u64(replies)
        .push_str(" received\n");
    Ok(replies)
}
