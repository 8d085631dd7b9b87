//! `sleeper [ms]`: sleeps `ms` milliseconds (default 100), printing the clock before and
//! after; exits 1 if it woke early.
#![no_std]
#![no_main]

use zb_sdk::println;

zb_sdk::entry!(main);

fn main() -> Result<i32, zb_sdk::Error> {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf)?;
    let ms = match args.get(0) {
        None => 100,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| zb_sdk::Error::InvalidArgument)?,
    };
    let t0 = zb_sdk::clock_us();
    println!("sleeper: sleeping {ms} ms (clock {t0} us)");
    zb_sdk::sleep_ms(ms)?;
    let t1 = zb_sdk::clock_us();
    let slept = t1.saturating_sub(t0);
    println!("sleeper: woke up (clock {t1} us, slept {slept} us)");
    if slept < ms * 1000 {
        zb_sdk::eprintln!("sleeper: woke {} us early", ms * 1000 - slept);
        return Ok(1);
    }
    Ok(0)
}
