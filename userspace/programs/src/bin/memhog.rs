//! `memhog [step]`: grows linear memory by `step` bytes (default 64 KiB) at a time, printing
//! progress, until the kernel's memory limit ends the run with status `rejected`.
//!
//! Programs are linked with 1-byte pages (`--page-size=1`), so `memory.grow(n)` grows by
//! `n` bytes. A grow past the run's memory limit traps (the run never sees `-1`); a grow the
//! kernel heap has no room for beside what it keeps for the system comes back `-1`, as wasm
//! allows: memhog says so and exits with code 2.
#![no_std]
#![no_main]

use core::arch::wasm32::{memory_grow, memory_size};
use zb_sdk::io::{BufWriter, Stream, print_str};

zb_sdk::entry!(main);

fn main() -> i32 {
    let mut buf = [0u8; 64];
    let step = zb_sdk::args(&mut buf)
        .ok()
        .and_then(|a| a.get_u64(0))
        .and_then(Result::ok)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s > 0)
        .unwrap_or(64 * 1024);
    BufWriter::<80>::new(Stream::Stdout)
        .push_str("memhog: ")
        .push_u64(memory_size::<0>() as u64)
        .push_str(" bytes, growing by ")
        .push_u64(step as u64)
        .push_str(" bytes until the kernel stops me\n");
    loop {
        if memory_grow::<0>(step) == usize::MAX {
            print_str("memhog: memory.grow refused: the kernel heap has no room for more\n");
            return 2;
        }
        BufWriter::<32>::new(Stream::Stdout)
            .push_str("memhog: ")
            .push_u64(memory_size::<0>() as u64 / 1024)
            .push_str(" KiB\n");
    }
}
