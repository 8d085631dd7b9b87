//! `timer <name> every <dur> | after <dur> | cron <min> <hour> <day> <month> <weekday>
//! [run <program>]`, or `timer <name> off`: sets or cancels a timer. Each firing is a
//! `timer.<name>` event (`log timer.>` lists them) and, with `run`, starts the program.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;
#[path = "../text.rs"]
mod text;

use buscli::{report, usage, words};
use text::Text;
use zb_sdk::bus;

zb_sdk::entry!(main);

const USAGE: &str = "usage: timer <name> every|after <dur> [run <program>]\n       timer <name> cron <min> <hour> <day> <month> <weekday> [run <program>]\n       timer <name> off\n";

fn main() -> i32 {
    let mut argbuf = [0u8; 256];
    let mut words_buf = [""; 10];
    let Some(n) = words(&mut argbuf, &mut words_buf) else {
        return usage(USAGE);
    };
    if n < 2 {
        return usage(USAGE);
    }
    let mut raw = [0u8; 256];
    let mut spec = Text::new(&mut raw);
    for (i, w) in words_buf.get(..n).unwrap_or(&[]).iter().enumerate() {
        if i > 0 {
            spec.push(b" ");
        }
        spec.push_str(w);
    }
    report("timer", bus::timer(spec.as_str()))
}
