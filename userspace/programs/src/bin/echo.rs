//! `echo [word ...]`: prints its arguments separated by spaces, then a newline.
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> Result<(), zb_sdk::Error> {
    // The shell caps a line at 1 KiB, so its arguments always fit.
    let mut buf = [0u8; 1024];
    let args = zb_sdk::args(&mut buf)?;
    let mut line = BufWriter::<128>::new(Stream::Stdout);
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            line.push(b" ");
        }
        line.push(arg);
    }
    line.push(b"\n");
    line.flush()
}
