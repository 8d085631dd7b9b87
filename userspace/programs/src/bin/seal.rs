//! `seal <view>`: snapshots view `view` at its current height and prints it (`sealed
//! ledger.balances at 42`). After a reboot the view starts from its newest snapshot, and the
//! journal may drop events below every view's snapshot when it needs room.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{report, usage, words};
use zb_sdk::bus;
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> i32 {
    let mut argbuf = [0u8; 128];
    let mut words_buf = [""; 2];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage("usage: seal <view>\n");
    };
    let [view] = words_buf.get(..n).unwrap_or(&[]) else {
        return usage("usage: seal <view>\n");
    };
    let result = bus::seal(view).map(|height| {
        let mut w = BufWriter::<96>::new(Stream::Stdout);
        w.push_str("sealed ")
            .push_str(view)
            .push_str(" at ")
            .push_u64(height)
            .push_str("\n");
    });
    report("seal", result)
}
