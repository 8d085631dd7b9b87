//! Host benchmark of one HOST call's cost: a WAT run calling `getpid` (or another cheap import)
//! in a loop, driven by [`Kernel::step`] on the host clock.
//!
//! Usage: `callbench [calls] [getpid|clock|write0|yield]` (default 1 000 000 calls of
//! `getpid`; `write0` writes 0 bytes; `yield` measures a full trip through the kernel); prints
//! nanoseconds per call, the median of 3 runs, minus the same loop without the call.

use std::sync::OnceLock;
use std::time::Instant;

use zb_hal::Clock;
use zb_kernel::{Kernel, KernelConfig};

struct HostClock(Instant);

impl Clock for HostClock {
    fn now_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
    fn cycles(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
    fn tick_hz(&self) -> u32 {
        1000
    }
}

static CLOCK: OnceLock<HostClock> = OnceLock::new();

/// A run calling `call` (a WAT expression leaving an i64, or nothing) `n` times.
fn program(n: u64, call: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
             (import "zb" "getpid" (func $getpid (result i64)))
             (import "zb" "clock" (func $clock (result i64)))
             (import "zb" "write" (func $write (param i32 i32 i32) (result i64)))
             (import "zb" "yield" (func $yield))
             (memory (export "memory") 1)
             (func (export "_start") (local $i i64)
               (loop $l
                 {call}
                 (local.set $i (i64.add (local.get $i) (i64.const 1)))
                 (br_if $l (i64.lt_u (local.get $i) (i64.const {n}))))))"#
    );
    wat::parse_str(wat).expect("valid WAT")
}

fn time(n: u64, call: &str) -> f64 {
    let clock = CLOCK.get_or_init(|| HostClock(Instant::now()));
    let mut k = Kernel::new(clock, KernelConfig::large(&[]));
    k.add_service("bench");
    let bytes: &'static [u8] = Box::leak(program(n, call).into_boxed_slice());
    k.install("/bin/loop", bytes);
    k.spawn(1, "loop", Vec::new(), Vec::new())
        .map_err(|(e, _)| e)
        .expect("spawn");
    let start = Instant::now();
    while k.step() {
        while k.take_event().is_some() {}
    }
    start.elapsed().as_nanos() as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let call = match args.get(2).map(String::as_str).unwrap_or("getpid") {
        "getpid" => "(drop (call $getpid))",
        "clock" => "(drop (call $clock))",
        "yield" => "(call $yield)",
        "write0" => "(drop (call $write (i32.const 1) (i32.const 0) (i32.const 0)))",
        other => panic!("unknown call {other}"),
    };
    let mut per_call = Vec::new();
    for _ in 0..3 {
        let with = time(n, call);
        let without = time(n, "");
        per_call.push((with - without) / n as f64);
    }
    per_call.sort_by(f64::total_cmp);
    println!("{:.1} ns/call", per_call[1]);
}
