//! `buslat [n]`: bus publish→deliver latency (for `cargo xtask bench`). Subscribes to
//! `bench.lat`, then `n` times (default 100, at most 128: the program has a 2 KiB stack) emits an event there and reads it
//! back, and prints the medians of (a) emit-call-to-delivery, which includes the durable group
//! commit, and (b) the event's kernel timestamp to delivery:
//! `buslat: n=100 emit_to_deliver_us=… publish_to_deliver_us=…`.
#![no_std]
#![no_main]

#[path = "../buscli.rs"]
mod buscli;

use buscli::{parse_u64, report, words};
use zb_sdk::Error;
use zb_sdk::bus::{self, Subscription};
use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

const MAX: usize = 128;

fn main() -> i32 {
    let mut argbuf = [0u8; 64];
    let mut words_buf = [""; 2];
    let n = words(&mut argbuf, &mut words_buf)
        .filter(|&k| k == 1)
        .and_then(|_| parse_u64(words_buf[0]))
        .unwrap_or(100)
        .clamp(1, MAX as u64) as usize;
    report("buslat", measure(n))
}

#[inline(never)]
fn measure(n: usize) -> Result<(), Error> {
    let mut s = Subscription::new("bench.lat", "")?;
    let (mut round, mut deliver) = ([0u32; MAX], [0u32; MAX]);
    let mut buf = [0u8; 192];
    for i in 0..n {
        let t0 = zb_sdk::clock_us();
        bus::emit("bench.lat", "{}", "")?;
        let event = s.next(&mut buf)?;
        let t1 = zb_sdk::clock_us();
        if let (Some(r), Some(d)) = (round.get_mut(i), deliver.get_mut(i)) {
            *r = t1.saturating_sub(t0).min(u64::from(u32::MAX)) as u32;
            *d = t1.saturating_sub(event.ts_us).min(u64::from(u32::MAX)) as u32;
        }
    }
    let r = median(round.get_mut(..n).unwrap_or(&mut []));
    let d = median(deliver.get_mut(..n).unwrap_or(&mut []));
    let mut w = BufWriter::<96>::new(Stream::Stdout);
    w.push_str("buslat: n=")
        .push_u64(n as u64)
        .push_str(" emit_to_deliver_us=")
        .push_u64(u64::from(r))
        .push_str(" publish_to_deliver_us=")
        .push_u64(u64::from(d))
        .push_str("\n");
    Ok(())
}

fn median(v: &mut [u32]) -> u32 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}
