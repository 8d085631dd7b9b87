//! `status [code]`: exits at once with `ok(code)` (default 0), printing nothing — for testing
//! how exit codes travel to `wait` and the shell.
#![no_std]
#![no_main]

zb_sdk::entry!(main);

fn main() -> i32 {
    let mut buf = [0u8; 32];
    let args = zb_sdk::args(&mut buf).unwrap_or_default();
    let code = args.get(0).and_then(zb_sdk::parse_i64);
    code.and_then(|c| i32::try_from(c).ok()).unwrap_or(0)
}
