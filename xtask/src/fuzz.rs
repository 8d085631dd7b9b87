//! `cargo xtask fuzz`: coverage-guided fuzzing with libFuzzer, through cargo-fuzz.
//!
//! - **Parser targets** (`fuzz/`, one per parser that takes outside input; the README's
//!   "Fuzzing" section lists them and what each asserts): built once, then each runs for the
//!   time asked, on its corpus under `target/fuzz-corpus/<target>` (grown by every run, never
//!   committed: CI starts from nothing) plus the seeds committed in `fuzz/seeds/<target>` if
//!   there are any. A crash, a failed assertion, a timeout or running out of memory leaves the
//!   input under `target/fuzz-artifacts/<target>/` and fails the command with its path.
//! - **The syscall fuzzer** (issue 15: a wasm program driving the kernel, `crate::sysfuzz`) is
//!   `--target syscalls` ([`SYSCALLS`]): seeds from `--seed` for `--time` seconds; a run of
//!   every target ends with it.
//!
//! `cargo xtask test` runs every parser target for [`SMOKE_SECS`] seconds ([`smoke`]).
//!
//! Tooling: cargo-fuzz, installed with `cargo install` at the pinned version when missing
//! ([`ensure_cargo_fuzz`]). Measured on the 2-core machine: the install takes about 1 min of
//! CPU (under 2 min wall, downloads included) and a cold build of all targets about 1 min of
//! CPU, well inside CI's budget, so cargo-fuzz's own build (sanitizer-coverage flags,
//! `cfg(fuzzing)`, libFuzzer linked by libfuzzer-sys) is used rather than a hand-rolled
//! `cargo rustc` copy of it.
//!
//! Build flags: debug assertions and overflow checks on (an overflow is a crash here, even
//! though release kernels wrap), and no sanitizer (`-s none`): every fuzzed crate is
//! `#![forbid(unsafe_code)]`, so AddressSanitizer could only check the dependencies, at about
//! twice the run time and a third more build time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::artifacts::{cargo, root, target_dir};

/// The cargo-fuzz release used (`cargo install cargo-fuzz --version =…`).
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The parser targets: the `[[bin]]`s of `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: &[&str] = &[
    "journal_recovery",
    "journal_record",
    "http",
    "url_path",
    "json",
    "json_schema",
    "init_manifest",
    "call_decode",
    "bus_options",
    "timer",
    "bootfs",
    "shell_args",
    "nats_proto",
    "nats_link",
];

/// Issue 15's syscall fuzzer (a wasm program driving the kernel, `crate::sysfuzz`).
pub const SYSCALLS: &str = "syscalls";

/// Seconds each target runs in `cargo xtask test` at most.
pub const SMOKE_SECS: u64 = 4;
/// Inputs each target runs in `cargo xtask test`, from [`SMOKE_SEED`]: with the committed seeds
/// as the only corpus (CI starts from nothing) a fixed seed and count make the step the same on
/// every run — the suite must not fail by luck one day; finding new inputs is what the long
/// runs of `cargo xtask fuzz` are for. Where a target is slower than this in [`SMOKE_SECS`],
/// the time ends it first.
pub const SMOKE_RUNS: u64 = 50_000;
/// libFuzzer's seed in `cargo xtask test`.
pub const SMOKE_SEED: u64 = 15;

/// Default seconds per target for `cargo xtask fuzz`.
pub const DEFAULT_SECS: u64 = 60;

/// Longest one input may run before libFuzzer calls it a hang (seconds).
const UNIT_TIMEOUT_SECS: u64 = 10;

/// What `cargo xtask fuzz` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzOpts {
    /// One target, or every one.
    pub target: Option<String>,
    /// Seconds per target.
    pub secs: u64,
    /// libFuzzer's random seed (`None`: libFuzzer picks one and prints it).
    pub seed: Option<u64>,
    /// Targets run side by side (each is one process on one core).
    pub jobs: usize,
    /// Most inputs per target (`None`: as many as the time allows).
    pub runs: Option<u64>,
    /// The syscall fuzzer in board mode (`--small`: the STM32F4's limits and kernel heap).
    pub small: bool,
}

/// One target's run.
struct Report {
    target: &'static str,
    secs: f64,
    execs: Option<u64>,
    seed: Option<String>,
    corpus: usize,
    /// The input that failed, if one did.
    crash: Option<PathBuf>,
    log: PathBuf,
}

/// `cargo xtask fuzz`.
pub fn run(opts: &FuzzOpts) -> Result<(), String> {
    // The dispatch point: parser targets here, then issue 15's syscall fuzzer.
    let targets: Vec<&'static str> = match opts.target.as_deref() {
        None => {
            parsers(TARGETS, opts)?;
            return crate::sysfuzz::run(opts.seed, opts.secs, opts.small);
        }
        Some(SYSCALLS) => return crate::sysfuzz::run(opts.seed, opts.secs, opts.small),
        Some(name) => match TARGETS.iter().find(|t| **t == name) {
            Some(t) => vec![*t],
            None => {
                return Err(format!(
                    "unknown fuzz target `{name}` (targets: {})",
                    TARGETS.join(", ")
                ));
            }
        },
    };
    parsers(&targets, opts)
}

/// `cargo xtask test`'s step: every parser target for [`SMOKE_SECS`] seconds, two at a time.
pub fn smoke() -> Result<(), String> {
    parsers(
        TARGETS,
        &FuzzOpts {
            target: None,
            secs: SMOKE_SECS,
            seed: Some(SMOKE_SEED),
            jobs: 2,
            runs: Some(SMOKE_RUNS),
            small: false,
        },
    )
}

fn parsers(targets: &[&'static str], opts: &FuzzOpts) -> Result<(), String> {
    let start = Instant::now();
    ensure_cargo_fuzz()?;
    build()?;
    let built = start.elapsed().as_secs_f64();
    println!(
        "xtask: fuzzing {} target(s), {} s each, {} at a time",
        targets.len(),
        opts.secs,
        opts.jobs.max(1)
    );
    // A shared queue of targets, taken by `jobs` workers.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reports: Vec<Result<Report, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..opts.jobs.clamp(1, targets.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&target) = targets.get(i) else {
                            break done;
                        };
                        let report = run_target(target, opts.secs, opts.seed, opts.runs);
                        print_report(target, &report);
                        done.push((i, report));
                    }
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<Report, String>)> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| match r {
            Ok(Report {
                target,
                crash: Some(path),
                ..
            }) => Some(format!(
                "{target}: crash input {} (replay: {} {})",
                path.display(),
                binary(target).unwrap_or_default().display(),
                path.display()
            )),
            Ok(_) => None,
            Err(e) => Some(e.clone()),
        })
        .collect();
    println!(
        "fuzz: {} passed, {} failed ({:.0} s, build {:.0} s)",
        reports.len() - failed.len(),
        failed.len(),
        start.elapsed().as_secs_f64(),
        built
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found failures:\n  {}",
            failed.join("\n  ")
        ))
    }
}

fn print_report(target: &str, report: &Result<Report, String>) {
    match report {
        Ok(r) => println!(
            "fuzz {target} ... {} ({:.1} s, {} execs, corpus {} inputs, seed {})",
            match &r.crash {
                Some(path) => format!("CRASH {}", path.display()),
                None => "ok".into(),
            },
            r.secs,
            r.execs.map_or("?".into(), |n| n.to_string()),
            r.corpus,
            r.seed.as_deref().unwrap_or("?"),
        ),
        Err(e) => println!("fuzz {target} ... FAILED: {e}"),
    }
    if let Ok(r) = report
        && r.crash.is_some()
    {
        // What libFuzzer said about it (the panic message and the stack are near the end).
        let log = std::fs::read_to_string(&r.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(40);
        println!("---- {} (last lines)", r.log.display());
        for line in &lines[from..] {
            println!("  {line}");
        }
    }
}

/// Whether `cargo fuzz` is there at the pinned version.
fn cargo_fuzz_version() -> Option<String> {
    let out = cargo()
        .args(["fuzz", "--version"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Installs cargo-fuzz [`CARGO_FUZZ_VERSION`] unless it is installed.
pub fn ensure_cargo_fuzz() -> Result<(), String> {
    let want = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    match cargo_fuzz_version() {
        Some(v) if v == want => return Ok(()),
        Some(v) => println!("xtask: found {v}, want {want}"),
        None => println!("xtask: cargo-fuzz not found"),
    }
    let version = format!("={CARGO_FUZZ_VERSION}");
    println!("xtask: installing it: cargo install cargo-fuzz --version {version} --locked");
    crate::artifacts::run_checked(cargo().args([
        "install",
        "cargo-fuzz",
        "--version",
        &version,
        "--locked",
    ]))?;
    match cargo_fuzz_version() {
        Some(v) if v == want => Ok(()),
        other => Err(format!(
            "after installing, `cargo fuzz --version` says {other:?}; is ~/.cargo/bin on PATH?"
        )),
    }
}

/// Where the fuzz targets are built.
fn build_dir() -> PathBuf {
    target_dir().join("fuzz")
}

/// The flags `cargo fuzz build` gets (see the module docs for why); `--target-dir` puts the
/// binaries under `target/fuzz/<host triple>/release/`.
fn build_command() -> Command {
    let mut cmd = cargo();
    cmd.args(["fuzz", "build", "--debug-assertions", "--sanitizer", "none"])
        .arg("--target-dir")
        .arg(build_dir());
    cmd
}

/// The host's target triple (what cargo-fuzz builds for by default).
fn host_triple() -> Result<String, String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .current_dir(root())
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| "`rustc -vV` names no host".to_string())
}

/// The built fuzzer of `target`.
fn binary(target: &str) -> Result<PathBuf, String> {
    Ok(build_dir()
        .join(host_triple()?)
        .join("release")
        .join(target))
}

/// Builds every parser target (one build: they share the instrumented crates).
fn build() -> Result<(), String> {
    println!("xtask: building the fuzz targets (cargo fuzz build)");
    crate::artifacts::run_checked(&mut build_command())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Runs `target` for `secs` seconds and reads what libFuzzer reported.
fn run_target(
    target: &'static str,
    secs: u64,
    seed: Option<u64>,
    runs: Option<u64>,
) -> Result<Report, String> {
    let corpus = target_dir().join("fuzz-corpus").join(target);
    let artifacts = target_dir().join("fuzz-artifacts").join(target);
    let logs = target_dir().join("fuzz-logs");
    for dir in [&corpus, &artifacts, &logs] {
        create_dir(dir)?;
    }
    let before: Vec<PathBuf> = files(&artifacts);
    let log = logs.join(format!("{target}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;

    // The binary `build` made, run directly: a `cargo fuzz run` would rebuild first, picking
    // up whatever the working tree holds by then.
    let mut cmd = Command::new(binary(target)?);
    cmd.current_dir(root()).arg(&corpus);
    let seeds = root().join("fuzz/seeds").join(target);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    if let Some(runs) = runs {
        cmd.arg(format!("-runs={runs}"));
    }
    cmd.arg(format!("-max_total_time={secs}"))
        .arg(format!("-timeout={UNIT_TIMEOUT_SECS}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1");
    if let Some(seed) = seed {
        cmd.arg(format!("-seed={seed}"));
    }
    cmd.stdout(log_file).stderr(log_err);
    let start = Instant::now();
    let status = cmd.status().map_err(|e| {
        format!(
            "cannot run {}: {e}",
            binary(target).unwrap_or_default().display()
        )
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let stat = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    let execs = stat("stat::number_of_executed_units:")
        .and_then(|v| v.parse().ok())
        .or_else(|| done_runs(&text));
    let seed = stat("INFO: Seed:");
    let new: Vec<PathBuf> = files(&artifacts)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    let crash = new.into_iter().next().or_else(|| {
        text.lines()
            .find_map(|l| l.split_once("Test unit written to "))
            .map(|(_, p)| PathBuf::from(p.trim()))
    });
    if crash.is_none() && !status.success() {
        return Err(format!(
            "{target}: the fuzzer failed ({status}) without a crash input; see {}",
            log.display()
        ));
    }
    Ok(Report {
        target,
        secs: elapsed,
        execs,
        seed,
        corpus: count_files(&corpus),
        crash,
        log,
    })
}

/// libFuzzer's closing `Done N runs in S second(s)`.
fn done_runs(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Done "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list here and the `[[bin]]`s of `fuzz/Cargo.toml` are the same set.
    #[test]
    fn targets_match_the_fuzz_crate() {
        let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
        let mut bins: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|n| *n != "zb-fuzz")
            .collect();
        bins.sort_unstable();
        let mut ours = TARGETS.to_vec();
        ours.sort_unstable();
        assert_eq!(bins, ours);
        for t in TARGETS {
            assert!(
                root().join(format!("fuzz/fuzz_targets/{t}.rs")).is_file(),
                "{t}"
            );
        }
        assert!(!TARGETS.contains(&SYSCALLS));
    }

    #[test]
    fn libfuzzer_counts_are_read() {
        assert_eq!(
            done_runs("INFO: x\nDone 174494 runs in 21 second(s)\n"),
            Some(174_494)
        );
        assert_eq!(done_runs("no summary"), None);
    }
}
