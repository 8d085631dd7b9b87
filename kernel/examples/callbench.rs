//! Host benchmark of what the kernel itself costs, with runs written in WAT (so the figures do
//! not depend on how the userspace programs are compiled), driven by [`Kernel::step`]:
//!
//! - one HOST call: a run calling `getpid` (or another cheap import) in a loop;
//! - a channel round trip between two runs doing nothing else (4-byte messages).
//!
//! Usage: `callbench [calls] [getpid|clock|write0|yield|roundtrip]` (default 1 000 000 calls
//! of `getpid`; `write0` writes 0 bytes; `yield` measures a full trip through the kernel;
//! `roundtrip` measures `calls` round trips). Prints nanoseconds per call (or round trip), the
//! median of 3 runs, minus the same loop without the call (for `roundtrip`, minus one trip).

use std::time::Instant;

use zb_kernel::{Kernel, KernelConfig};

mod common;
use common::host_clock;

const IMPORTS: &str = r#"
  (import "zb" "getpid" (func $getpid (result i64)))
  (import "zb" "clock" (func $clock (result i64)))
  (import "zb" "write" (func $write (param i32 i32 i32) (result i64)))
  (import "zb" "yield" (func $yield))
  (import "zb" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "wait" (func $wait (param i64) (result i64)))
  (import "zb" "channel_create" (func $cc (param i32) (result i64)))
  (import "zb" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "recv" (func $recv (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "zb" "close" (func $close (param i32) (result i64)))
  (import "zb" "grants" (func $grants (param i32 i32) (result i64)))
"#;

/// A run calling `call` (a WAT instruction sequence) `n` times.
fn call_loop(n: u64, call: &str) -> String {
    format!(
        r#"(memory (export "memory") 1)
           (func (export "_start") (local $i i64)
             (loop $l
               {call}
               (local.set $i (i64.add (local.get $i) (i64.const 1)))
               (br_if $l (i64.lt_u (local.get $i) (i64.const {n})))))"#
    )
}

/// Creates a channel, spawns `pong` with end B, and bounces `n` 4-byte messages.
fn ping(n: u64) -> String {
    format!(
        r#"(memory (export "memory") 1)
           (data (i32.const 0) "pong")
           (func (export "_start") (local $i i64) (local $child i64)
             (drop (call $cc (i32.const 16)))
             (i32.store (i32.const 32) (i32.load (i32.const 20)))
             (local.set $child (call $spawn (i32.const 0) (i32.const 4) (i32.const 0)
                                            (i32.const 0) (i32.const 32) (i32.const 1)))
             (block $done (loop $next
               (br_if $done (i64.ge_u (local.get $i) (i64.const {n})))
               (drop (call $send (i32.load (i32.const 16)) (i32.const 64) (i32.const 4)
                                 (i32.const 0) (i32.const 0) (i32.const 0)))
               (drop (call $recv (i32.load (i32.const 16)) (i32.const 64) (i32.const 64)
                                 (i32.const 0) (i32.const 0) (i32.const 0)))
               (local.set $i (i64.add (local.get $i) (i64.const 1)))
               (br $next)))
             (drop (call $close (i32.load (i32.const 16))))
             (drop (call $wait (local.get $child))))"#
    )
}

/// Echoes every message on its granted handle until the channel closes.
const PONG: &str = r#"(memory (export "memory") 1)
  (func (export "_start") (local $h i32) (local $r i64)
    (drop (call $grants (i32.const 0) (i32.const 4)))
    (local.set $h (i32.load (i32.const 0)))
    (loop $next
      (local.set $r (call $recv (local.get $h) (i32.const 64) (i32.const 64)
                                (i32.const 0) (i32.const 0) (i32.const 0)))
      (br_if 1 (i64.lt_s (local.get $r) (i64.const 0)))
      (drop (call $send (local.get $h) (i32.const 64) (i32.wrap_i64 (local.get $r))
                        (i32.const 0) (i32.const 0) (i32.const 0)))
      (br $next)))"#;

fn install(k: &mut Kernel, name: &'static str, body: &str) {
    let wasm = wat::parse_str(format!("(module {IMPORTS} {body})")).expect("valid WAT");
    k.install(name, Box::leak(wasm.into_boxed_slice()));
}

/// Nanoseconds to run `/bin/main` (`main`'s body) to the end, with `/bin/pong` installed.
fn time(main: &str) -> f64 {
    let clock = host_clock();
    let mut k = Kernel::new(clock, KernelConfig::large(&[]));
    k.add_service("bench");
    install(&mut k, "/bin/main", main);
    install(&mut k, "/bin/pong", PONG);
    let start = Instant::now();
    k.spawn(1, "main", Vec::new(), Vec::new())
        .map_err(|(e, _)| e)
        .expect("spawn");
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
    let what = args.get(2).map(String::as_str).unwrap_or("getpid");
    let call = match what {
        "getpid" => "(drop (call $getpid))",
        "clock" => "(drop (call $clock))",
        "yield" => "(call $yield)",
        "write0" => "(drop (call $write (i32.const 1) (i32.const 0) (i32.const 0)))",
        "roundtrip" => "",
        other => panic!("unknown call {other}"),
    };
    let mut per_call = Vec::new();
    for _ in 0..3 {
        let (with, without) = if what == "roundtrip" {
            (time(&ping(n + 1)), time(&ping(1)))
        } else {
            (time(&call_loop(n, call)), time(&call_loop(n, "")))
        };
        per_call.push((with - without) / n as f64);
    }
    per_call.sort_by(f64::total_cmp);
    println!(
        "{:.1} ns/{}",
        per_call[1],
        if what == "roundtrip" {
            "round trip"
        } else {
            "call"
        }
    );
}
