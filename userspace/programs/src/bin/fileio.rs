//! `fileio [kib] [path]`: writes `kib` KiB (default 1024) to `path` (default
//! `/data/fileio.bin`) in 1 KiB writes, reads it back in 1 KiB reads, checks the bytes, removes
//! the file, and prints `fileio: wrote N KiB in W us, read in R us` — the VFS throughput figure
//! of `cargo xtask bench`.
#![no_std]
#![no_main]

use zb_sdk::fs::{self, File};
use zb_sdk::{Error, parse_u64, println};

zb_sdk::entry!(main);

// Runs have a 2 KiB stack (1-byte pages, small images): the buffer must fit beside the rest.
const CHUNK: usize = 1024;

fn main() -> Result<(), Error> {
    let mut argbuf = [0u8; 128];
    let args = zb_sdk::args(&mut argbuf)?;
    let mut it = args.iter();
    let kib = it.next().and_then(parse_u64).unwrap_or(1024);
    let path = it
        .next()
        .and_then(|a| core::str::from_utf8(a).ok())
        .unwrap_or("/data/fileio.bin");
    let chunks = kib;
    let mut buf = [0u8; CHUNK];
    let start = zb_sdk::clock_us();
    {
        let mut f = File::create(path)?;
        for i in 0..chunks {
            buf.fill(i as u8);
            f.write_all(&buf)?;
        }
    }
    let wrote = zb_sdk::clock_us() - start;
    let start = zb_sdk::clock_us();
    {
        let mut f = File::read_only(path)?;
        for i in 0..chunks {
            let mut got = 0;
            while got < CHUNK {
                match f.read(&mut buf[got..])? {
                    0 => return Err(Error::Corrupt),
                    n => got += n,
                }
            }
            if buf.iter().any(|&b| b != i as u8) {
                return Err(Error::Corrupt);
            }
        }
    }
    let read = zb_sdk::clock_us() - start;
    fs::remove(path)?;
    println!(
        "fileio: wrote {} KiB in {} us, read in {} us",
        chunks, wrote, read
    );
    Ok(())
}
