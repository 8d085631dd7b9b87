//! `spin`: computes forever without ever calling the kernel after its first line — the
//! scheduler's fuel slices must preempt it, and only `kill` (or Ctrl-C) ends it.
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() {
    BufWriter::<64>::new(Stream::Stdout)
        .push_str("spin: spinning forever (pid ")
        .push_u64(zb_sdk::getpid().into())
        .push_str(")\n");
    let mut counter: u64 = 0;
    loop {
        // `black_box` keeps the optimiser from removing or folding the work: every iteration
        // really executes, so only fuel metering can interrupt it.
        counter = core::hint::black_box(counter.wrapping_add(1));
    }
}
