//! `scan <view> <key>`: prints what view `view` says about `key` (JSON), e.g.
//! `scan ledger.balances alice`.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{report, usage, words};
use zb_sdk::bus;
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> i32 {
    let mut argbuf = [0u8; 256];
    let mut words_buf = [""; 4];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage("usage: scan <view> <key>\n");
    };
    let [view, key] = words_buf.get(..n).unwrap_or(&[]) else {
        return usage("usage: scan <view> <key>\n");
    };
    let mut answer = [0u8; 512];
    let result = bus::scan(view, key, &mut answer).map(|json| {
        let mut w = BufWriter::<64>::new(Stream::Stdout);
        w.push_str(json).push_str("\n");
    });
    report("scan", result)
}
