//! The syscall fuzzer on the host build of the kernel (issue 15): the wasm program `sysfuzz`
//! (`userspace/programs/src/bin/sysfuzz.rs`: seeded random HOST calls with adversarial
//! arguments) run seed after seed by the harness `kernel/examples/sysfuzz.rs`, which puts the
//! kernel core, the vfs service and a RAM journal together on the host and checks, per seed,
//! that the kernel does not panic, that a neighbour run keeps working, that sysfuzz ends, and
//! that the heap comes back to its baseline (within the harness's `TOLERANCE`).
//!
//! - `cargo xtask test`: [`SEEDS`] seeds of [`CALLS`] calls, from seed 1, then
//!   [`SMALL_SEEDS`] in board mode ([`smoke`]).
//! - `cargo xtask fuzz --target syscalls [--seed N] [--time S] [--small]`: seeds from N
//!   (default: from the clock, printed) for S seconds ([`run`]).
//!
//! Board mode (`--small`, the harness's `--small`): the STM32F4's `KernelConfig::small` and its
//! ~120 KiB kernel heap with its reserve, emulated by the harness's allocator, and the harness
//! built with the kernel's `compact-code` feature as the board's kernel is (so compiled
//! programs take the heap they take there). An allocation the kernel did not make fallibly
//! failing there — a kernel panic on the board — fails the run with its backtrace.
//!
//! The QEMU side (a few seeds, the floods, the channel loop and the hoard, on x86_64) is the
//! `isolation` suite (`suites.rs`).

use std::process::Command;

use crate::artifacts;

/// Seeds `cargo xtask test` runs (about 15 s on the 2-core machine, after a 4 s warm-up).
pub const SEEDS: u64 = 300;
/// Calls each seed makes.
pub const CALLS: u64 = 2000;
/// Board-mode seeds `cargo xtask test` runs after those (about 3 s after a 3 s warm-up; the
/// first build of the `compact-code` harness takes about 80 s more).
pub const SMALL_SEEDS: u64 = 40;

/// `cargo xtask test`'s step.
pub fn smoke() -> Result<(), String> {
    let seeds = |n: u64| {
        [
            "--seed".into(),
            "1".into(),
            "--seeds".into(),
            n.to_string(),
            "--calls".into(),
            CALLS.to_string(),
        ]
    };
    harness(&seeds(SEEDS), false)?;
    println!("== syscall fuzzer, board mode ({SMALL_SEEDS} seeds)");
    harness(&seeds(SMALL_SEEDS), true)
}

/// `cargo xtask fuzz --target syscalls`: seeds from `seed` for `secs` seconds (`small`: in
/// board mode).
pub fn run(seed: Option<u64>, secs: u64, small: bool) -> Result<(), String> {
    let seed = seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let seed = now.map_or(1, |d| d.as_secs() % 1_000_000_000);
        println!("xtask: syscall fuzzer from seed {seed} (--seed N to choose)");
        seed
    });
    harness(
        &[
            "--seed".into(),
            seed.to_string(),
            "--time".into(),
            secs.to_string(),
            "--calls".into(),
            CALLS.to_string(),
        ],
        small,
    )
}

/// Builds the programs and the harness, and runs it with `args` (`small`: in board mode).
fn harness(args: &[String], small: bool) -> Result<(), String> {
    let (exe, dir) = if small {
        artifacts::kernel_example_with("sysfuzz", Some("compact-code"))?
    } else {
        artifacts::kernel_example("sysfuzz")?
    };
    let status = Command::new(&exe)
        .arg(&dir)
        .args(args)
        .args(small.then_some("--small"))
        .status()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the syscall fuzzer failed ({status}); its output above names the seed"
        ))
    }
}
