//! `filebench [n] [url]`: opens `url` (default `/etc/motd`), reads up to 64 bytes and closes it,
//! `n` times (default 1000); prints nothing unless a call fails. For `cargo xtask bench`, which
//! times it against the same loop on a Linux tmpfs file.
#![no_std]
#![no_main]

use zb_sdk::fs::File;
use zb_sdk::{Error, parse_u64};

zb_sdk::entry!(main);

fn main() -> Result<(), Error> {
    let mut argbuf = [0u8; 256];
    let args = zb_sdk::args(&mut argbuf)?;
    let mut it = args.iter();
    let n = it.next().and_then(parse_u64).unwrap_or(1000);
    let url = it
        .next()
        .and_then(|a| core::str::from_utf8(a).ok())
        .unwrap_or("/etc/motd");
    let mut buf = [0u8; 64];
    for _ in 0..n {
        let mut f = File::read_only(url)?;
        f.read(&mut buf)?;
    }
    Ok(())
}
