//! `consumer rm <name>`: deletes durable consumer `name` — its recorded position goes, so the
//! journal no longer keeps events for it, and a later `sub --durable <name>` starts afresh.
//! Refused while a subscriber uses it (`busy`) or if there is no such consumer.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{report, usage, words};
use zb_sdk::bus;
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

const USAGE: &str = "usage: consumer rm <name>\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 128];
    let mut words_buf = [""; 3];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    let ["rm", name] = words_buf.get(..n).unwrap_or(&[]) else {
        return usage(USAGE);
    };
    let result = bus::delete_consumer(name).map(|()| {
        BufWriter::<96>::new(Stream::Stdout)
            .push_str("deleted durable consumer ")
            .push_str(name)
            .push_str("\n");
    });
    report("consumer", result)
}
