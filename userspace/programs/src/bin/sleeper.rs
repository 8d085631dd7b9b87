//! `sleeper [ms]`: sleeps `ms` milliseconds (default 100), printing the clock before and
//! after; exits 1 if it woke early. (No `core::fmt`: see `BufWriter::push_u64`.)
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};

zb_sdk::entry!(main);

fn main() -> Result<i32, zb_sdk::Error> {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf)?;
    let ms = args.get_u64(0).unwrap_or(Ok(100))?;
    let t0 = zb_sdk::clock_us();
    BufWriter::<80>::new(Stream::Stdout)
        .push_str("sleeper: sleeping ")
        .push_u64(ms)
        .push_str(" ms (clock ")
        .push_u64(t0)
        .push_str(" us)\n");
    zb_sdk::sleep_ms(ms)?;
    let t1 = zb_sdk::clock_us();
    let slept = t1.saturating_sub(t0);
    BufWriter::<80>::new(Stream::Stdout)
        .push_str("sleeper: woke up (clock ")
        .push_u64(t1)
        .push_str(" us, slept ")
        .push_u64(slept)
        .push_str(" us)\n");
    let wanted = ms.saturating_mul(1000);
    if slept < wanted {
        BufWriter::<64>::new(Stream::Stderr)
            .push_str("sleeper: woke ")
            .push_u64(wanted - slept)
            .push_str(" us early\n");
        return Ok(1);
    }
    Ok(0)
}
