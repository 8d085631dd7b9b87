//! `hello`: greets and exits with `ok(0)`. The smallest useful run: no `core::fmt`.
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() {
    BufWriter::<64>::new(Stream::Stdout)
        .push_str("hello from ZeroBus OS (pid ")
        .push_u64(zb_sdk::getpid().into())
        .push_str(")\n");
}
