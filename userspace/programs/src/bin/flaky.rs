//! `flaky [ok]`: exits at once with `ok(1)`, printing nothing, or with `ok(0)` if its first
//! argument is `ok`. init's boot manifest runs it under `restart on-failure` to show the
//! restart backoff and rate limit; it stays quiet so the console is not disturbed.
#![no_std]
#![no_main]

zb_sdk::entry!(main);

fn main() -> i32 {
    let mut buf = [0u8; 16];
    let args = zb_sdk::args(&mut buf).unwrap_or_default();
    if args.get(0) == Some(&b"ok"[..]) {
        0
    } else {
        1
    }
}
