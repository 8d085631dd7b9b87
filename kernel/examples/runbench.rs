//! Host benchmark of the run kernel core, side by side with Linux in the same process run:
//!
//! - channel round trip between two wasm runs (`pingpong`/`pong`) vs a pipe round trip between
//!   two Linux processes (this binary re-executed as an echo child);
//! - spawn-to-exit of `hello` vs `posix_spawn` + wait of `/bin/true` (Rust's `Command` uses
//!   `posix_spawn` on Linux when it can).
//!
//! Usage: `runbench <dir with hello.wasm, pingpong.wasm, pong.wasm> [rounds]`; prints one JSON
//! object (`cargo xtask bench` runs it and prints the ratios). Not a test: no thresholds here.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use zb_kernel::{Event, Kernel, KernelConfig};

mod common;
use common::host_clock;

fn kernel(dir: &str) -> Kernel {
    let clock = host_clock();
    let mut k = Kernel::new(clock, KernelConfig::large(&[]));
    k.add_service("bench");
    for name in ["hello", "pingpong", "pong"] {
        let path = format!("{dir}/{name}.wasm");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let key: &'static str = Box::leak(format!("/bin/{name}").into_boxed_str());
        k.install(key, Box::leak(bytes.into_boxed_slice()));
    }
    k
}

/// Runs until nothing is ready; returns the exit events seen.
fn run_to_idle(k: &mut Kernel) -> usize {
    let mut exits = 0;
    loop {
        let ran = k.step();
        while let Some(e) = k.take_event() {
            if let Event::Exited(_) = e {
                exits += 1;
            }
        }
        if !ran && k.next_deadline().is_none() {
            return exits;
        }
    }
}

fn spawn(k: &mut Kernel, name: &str, args: &[&str]) {
    let mut packed = Vec::new();
    for a in args {
        packed.extend_from_slice(a.as_bytes());
        packed.push(0);
    }
    if let Err((e, _)) = k.spawn(1, name, packed, Vec::new()) {
        panic!("spawn {name}: {e:?}");
    }
}

/// Nanoseconds per spawn-to-exit of `hello`.
fn zb_spawn(dir: &str, n: usize) -> f64 {
    let mut k = kernel(dir);
    spawn(&mut k, "hello", &[]); // warm-up
    run_to_idle(&mut k);
    let start = Instant::now();
    for _ in 0..n {
        spawn(&mut k, "hello", &[]);
        assert_eq!(run_to_idle(&mut k), 1);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per channel round trip: (pingpong with `n` trips − pingpong with 1) / (n − 1).
fn zb_round_trip(dir: &str, n: usize) -> f64 {
    let mut k = kernel(dir);
    let mut time = |trips: usize| {
        let arg = trips.to_string();
        let start = Instant::now();
        spawn(&mut k, "pingpong", &[&arg]);
        run_to_idle(&mut k);
        start.elapsed().as_nanos() as f64
    };
    time(10); // warm-up
    let one = time(1);
    let many = time(n);
    (many - one) / (n - 1) as f64
}

fn linux_spawn(n: usize) -> f64 {
    let _ = Command::new("/bin/true").status();
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new("/bin/true").status().expect("spawn /bin/true");
        assert!(status.success());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn linux_round_trip(n: usize) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn echo child");
    let mut to = child.stdin.take().expect("piped");
    let mut from = child.stdout.take().expect("piped");
    let mut buf = [0u8; 4];
    let mut trip = |i: u32| {
        to.write_all(&i.to_le_bytes()).expect("write");
        from.read_exact(&mut buf).expect("read");
        assert_eq!(u32::from_le_bytes(buf), i + 1000);
    };
    for i in 0..100 {
        trip(i);
    }
    let start = Instant::now();
    for i in 0..n as u32 {
        trip(i);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    drop(to);
    let _ = child.wait();
    ns
}

/// The pipe peer: answers each 4-byte message with `x + 1000`, as `pong` does.
fn echo() {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut buf = [0u8; 4];
    while input.read_exact(&mut buf).is_ok() {
        let reply = u32::from_le_bytes(buf) + 1000;
        if output
            .write_all(&reply.to_le_bytes())
            .and_then(|_| output.flush())
            .is_err()
        {
            break;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--echo") {
        return echo();
    }
    let dir = args.get(1).expect("usage: runbench <wasm dir> [rounds]");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let spawns = (rounds / 20).max(50);
    if std::env::var_os("RUNBENCH_PROFILE_ROUND_TRIP").is_some() {
        println!("{:.0} ns", zb_round_trip(dir, rounds));
        return;
    }
    // Side by side: alternate the two sides so that noise hits both alike.
    let mut zb_rt = Vec::new();
    let mut lx_rt = Vec::new();
    let mut zb_sp = Vec::new();
    let mut lx_sp = Vec::new();
    for _ in 0..3 {
        zb_rt.push(zb_round_trip(dir, rounds));
        lx_rt.push(linux_round_trip(rounds));
        zb_sp.push(zb_spawn(dir, spawns));
        lx_sp.push(linux_spawn(spawns / 5));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{{\"round_trip_ns\": {:.0}, \"pipe_round_trip_ns\": {:.0}, \"spawn_ns\": {:.0}, \"posix_spawn_ns\": {:.0}, \"rounds\": {rounds}, \"spawns\": {spawns}}}",
        med(&mut zb_rt),
        med(&mut lx_rt),
        med(&mut zb_sp),
        med(&mut lx_sp)
    );
}
