//! `cat-upper`: copies its stdin to stdout in upper case (ASCII), a line at a time, until end
//! of input (Ctrl-D at the terminal). Prints how many bytes it copied to stderr at the end.
#![no_std]
#![no_main]

use zb_sdk::fs::stdin;
use zb_sdk::io::{Stream, write_all};

zb_sdk::entry!(main);

fn main() -> Result<(), zb_sdk::Error> {
    let mut buf = [0u8; 256];
    let mut total = 0u64;
    loop {
        let n = stdin().read(&mut buf)?;
        if n == 0 {
            break;
        }
        buf[..n].make_ascii_uppercase();
        write_all(Stream::Stdout, &buf[..n])?;
        total += n as u64;
    }
    zb_sdk::eprintln!("cat-upper: {} bytes", total);
    Ok(())
}
