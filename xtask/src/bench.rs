//! `cargo xtask bench`: benchmarks, printed as a table and written to `target/bench/`.
//!
//! - Boot-to-prompt: wall time from starting QEMU to the first prompt (median of several boots),
//!   and the kernel's own share of it (entry to prompt, as the kernel reports it in the banner).
//! - Runs, on the host build of the kernel core, side by side with Linux in the same run
//!   (`kernel/examples/runbench.rs`): channel round trip between two wasm runs vs a pipe round
//!   trip between two processes, and spawn-to-exit of `hello` vs posix_spawn + wait of
//!   `/bin/true`, and one open/read/close of a ramfs file by a run (kernel router + vfs
//!   service) vs the same on a Linux tmpfs file, as ratios. The same two figures measured inside QEMU with the shell's `time`
//!   (cycles; on the STM32F4 model the counter is derived from a 1 MHz timer) beside them.
//!
//! - Compute: `compute`'s CoreMark-style workload per iteration — as a run of the host kernel
//!   core next to the same module's export called with plain wasmi on Linux (configured as
//!   the kernel configures it, and with wasmi's defaults), then as a run inside QEMU on both
//!   platforms and in the browser (nested: the kernel is wasm there), each as a ratio to
//!   plain wasmi on the host.
//! - The browser (headless Chromium): boot to prompt (driver start → prompt, Chromium's launch
//!   included), spawn, channel round trip and compute as above, and what an idle kernel costs
//!   (calls into it and CPU time per second while nothing is ready).
//!
//! Nothing here is a pass/fail threshold: the machines are noisy, so figures are medians and
//! comparisons are ratios measured in the same run.

use std::time::Duration;

use crate::artifacts::{self, BuildOpts};
use crate::cli::{Args, Platform};
use crate::harness::Machine;

struct BootFigure {
    platform: Platform,
    wall_ms: Vec<f64>,
    kernel_ms: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() { 0.0 } else { s[s.len() / 2] }
}

pub fn run(args: &Args) -> Result<(), String> {
    crate::env::check_toolchain()?;
    let targets = artifacts::build_for_qemu(
        &BuildOpts {
            release: true,
            test_hooks: false,
            qemu: true,
        },
        !matches!(args.only.as_deref(), Some("net" | "nats")),
    )?;

    if args.only.as_deref() == Some("nats") {
        // Only the federation figures.
        let json = format!(
            "{{\n  \"only\": \"nats\"{}}}\n",
            crate::federation::bench(&targets)?
        );
        println!("{json}");
        return Ok(());
    }
    if args.only.as_deref() == Some("net") {
        // Only the network figures (for working on the network).
        let json = format!("{{\n  \"only\": \"net\"{}}}\n", net_throughput(&targets)?);
        println!("{json}");
        return Ok(());
    }
    let runs = host_runs()?;
    let mut guest = Vec::new();
    let mut figures = Vec::new();
    let idle = web_idle(&targets)?;
    for platform in [Platform::X86_64, Platform::Stm32f4, Platform::Web] {
        guest.push(guest_runs(&targets, platform)?);
        let boot = targets.boot(platform);
        let mut fig = BootFigure {
            platform,
            wall_ms: Vec::new(),
            kernel_ms: Vec::new(),
        };
        for i in 0..args.boots {
            let mut m = Machine::boot(&format!("bench/{}#{i}", platform.name()), &boot)?;
            let banner = m.expect_prompt(Duration::from_secs(90))?;
            fig.wall_ms.push(m.started.elapsed().as_secs_f64() * 1000.0);
            let kernel = banner
                .split("boot: kernel entry to prompt ")
                .nth(1)
                .and_then(|s| s.split(" ms").next())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("no kernel boot time in banner: {banner:?}"))?;
            fig.kernel_ms.push(kernel);
        }
        figures.push(fig);
    }

    println!(
        "\nboot to prompt ({} boots each, median; web: driver start, Chromium's launch included)",
        args.boots
    );
    println!(
        "{:<10}{:>14}{:>14}{:>10}",
        "platform", "start→prompt", "kernel", "share"
    );
    let mut json = String::from("{\n  \"boot_to_prompt\": [\n");
    for (i, f) in figures.iter().enumerate() {
        let (wall, kernel) = (median(&f.wall_ms), median(&f.kernel_ms));
        let share = if wall > 0.0 {
            kernel / wall * 100.0
        } else {
            0.0
        };
        println!(
            "{:<10}{:>11.1} ms{:>11.2} ms{:>9.1}%",
            f.platform.name(),
            wall,
            kernel,
            share
        );
        json.push_str(&format!(
            "    {{\"platform\": \"{}\", \"boots\": {}, \"wall_ms_median\": {wall:.3}, \"kernel_ms_median\": {kernel:.3}, \"kernel_share\": {:.4}, \"wall_ms\": {:?}, \"kernel_ms\": {:?}}}{}\n",
            f.platform.name(),
            f.wall_ms.len(),
            share / 100.0,
            f.wall_ms,
            f.kernel_ms,
            if i + 1 < figures.len() { "," } else { "" }
        ));
    }
    json.push_str("  ],\n");
    json.push_str(&report_runs(&runs, &guest));
    json.push_str(&idle);
    let disk = disk_throughput(&targets)?;
    json.push_str(&disk);
    json.push_str(&net_throughput(&targets)?);
    json.push_str(&crate::federation::bench(&targets)?);
    json.push_str(&journal_throughput()?);
    json.push_str("}\n");
    let dir = artifacts::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("bench.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten to {}", path.display());
    Ok(())
}

/// Durable EMIT throughput of the journal core on a host file next to SQLite (WAL,
/// synchronous=FULL) inserting the same events, at several batch sizes, in one run
/// (`xtask/journal-bench`); the JSON fragment for `bench.json`.
fn journal_throughput() -> Result<String, String> {
    println!("\n== journal core vs SQLite (WAL, synchronous=FULL), durable events/s");
    artifacts::run_checked(artifacts::cargo().args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "zb-journal-bench",
    ]))?;
    let exe = artifacts::target_dir().join("release/zb-journal-bench");
    // Beside the build, on the same file system as a developer's work (not a tmpfs /tmp).
    let dir = artifacts::target_dir().join("bench/journal");
    let out = std::process::Command::new(&exe)
        .arg(&dir)
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "journal-bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("journal-bench ")) {
        println!("{line}");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or("0")
                .to_string()
        };
        rows.push(format!(
            "    {{\"batch\": {}, \"events\": {}, \"journal_events_per_s\": {}, \"sqlite_events_per_s\": {}, \"ratio\": {}}}",
            field("batch"),
            field("events"),
            field("journal_eps"),
            field("sqlite_eps"),
            field("ratio")
        ));
    }
    if rows.is_empty() {
        return Err(format!("journal-bench printed no results: {text}"));
    }
    Ok(format!(
        ",\n  \"journal_vs_sqlite\": [\n{}\n  ]\n",
        rows.join(",\n")
    ))
}

/// VFS throughput on the x86_64 virtio-blk disk: `fileio` writes then reads 1 MiB of `/data`
/// (FAT on the disk, every write flushed before it is acknowledged), median of 3, in MB/s.
fn disk_throughput(targets: &artifacts::QemuTargets) -> Result<String, String> {
    const KIB: f64 = 1024.0;
    let disk = artifacts::target_dir().join("zerobus/test-disks/bench.img");
    crate::qemu::create_disk(&disk)?;
    let boot = targets.boot(Platform::X86_64).with_disk(&disk)?;
    let mut m = Machine::boot("bench/x86_64/disk", &boot)?;
    m.expect_prompt(Duration::from_secs(90))?;
    m.settle()?;
    let (mut write, mut read) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let out = m.command(&format!("run fileio {KIB}"), Duration::from_secs(300))?;
        let nums: Vec<f64> = out
            .lines()
            .find(|l| l.starts_with("fileio: wrote"))
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let [_, w_us, r_us] = nums[..] else {
            return Err(format!("fileio printed no figures: {out:?}"));
        };
        write.push(KIB * 1024.0 / w_us);
        read.push(KIB * 1024.0 / r_us);
    }
    // Bus publish→deliver latency on the same machine (the journal on its virtio-blk disk).
    let out = m.command("run buslat 100", Duration::from_secs(300))?;
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (Some(emit_us), Some(deliver_us)) =
        (field("emit_to_deliver_us"), field("publish_to_deliver_us"))
    else {
        return Err(format!("buslat printed no figures: {out:?}"));
    };
    // The baseline beside it, on the same machine in the same boot: a message round trip
    // between two runs over a channel (no journal, no routing).
    let mut trip = |n: u32| -> Result<f64, String> {
        let out = m.command(&format!("time run pingpong {n}"), Duration::from_secs(300))?;
        parse_time(&out)
            .map(|(us, _)| us)
            .ok_or_else(|| format!("no time line for pingpong {n}: {out:?}"))
    };
    let mut trips = Vec::new();
    for _ in 0..3 {
        let (one, many) = (trip(1)?, trip(1000)?);
        trips.push((many - one) / 999.0);
    }
    let channel_us = median(&trips);
    println!("\nbus on x86_64 (journal on virtio-blk; QEMU TCG), median of 100");
    println!("{:<34}{:>9}{:>12}{:>9}", "", "bus", "channel", "ratio");
    println!(
        "{:<34}{:>6.0} us{:>9.1} us{:>9.1}",
        "emit→delivery (durable) vs r/trip",
        emit_us,
        channel_us,
        emit_us / channel_us
    );
    println!(
        "{:<34}{:>6.0} us",
        "committed event to delivery", deliver_us
    );
    let (w, r) = (median(&write), median(&read));
    println!("\nVFS on the x86_64 virtio-blk disk (FAT, flushed writes; QEMU TCG), median of 3");
    println!("{:<34}{:>9.2} MB/s", "write 1 MiB in 1 KiB writes", w);
    println!("{:<34}{:>9.2} MB/s", "read it back in 1 KiB reads", r);
    Ok(format!(
        ",\n  \"vfs_disk_x86_64\": {{\"write_mb_s\": {w:.3}, \"read_mb_s\": {r:.3}}},\n  \"bus_latency_x86_64\": {{\"emit_to_deliver_us\": {emit_us:.0}, \"publish_to_deliver_us\": {deliver_us:.0}, \"channel_round_trip_us\": {channel_us:.1}, \"ratio\": {:.2}}}\n",
        emit_us / channel_us
    ))
}

/// Host figures from `runbench`, all in nanoseconds.
struct HostRuns {
    round_trip: f64,
    pipe_round_trip: f64,
    spawn: f64,
    posix_spawn: f64,
    /// One open/read/close of a ramfs file by a run (through the vfs service), and the same
    /// on a Linux tmpfs file.
    file: f64,
    tmpfs_file: f64,
    /// One `compute` iteration as a run of the kernel core, and with plain wasmi (metered as
    /// the kernel meters, and with wasmi's defaults).
    compute: f64,
    wasmi_compute: f64,
    wasmi_default_compute: f64,
}

fn host_runs() -> Result<HostRuns, String> {
    let (exe, dir) = artifacts::kernel_example("runbench")?;
    println!("== host: run kernel core vs Linux (side by side)");
    // Both sides on one CPU: the kernel core is single-threaded, and a pipe ping-pong spread
    // over two mostly idle CPUs measures their wake-up latency (10x noisier), not the pipe.
    let pinned = std::process::Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if pinned {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    if !pinned {
        println!("(taskset not found: the pipe benchmark is not pinned to one CPU)");
    }
    let out = cmd
        .arg(&dir)
        .arg("20000")
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "runbench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| -> Result<f64, String> {
        crate::harness::json_number(&text, name)
            .ok_or_else(|| format!("runbench output lacks {name}: {text}"))
    };
    Ok(HostRuns {
        round_trip: field("round_trip_ns")?,
        pipe_round_trip: field("pipe_round_trip_ns")?,
        spawn: field("spawn_ns")?,
        posix_spawn: field("posix_spawn_ns")?,
        file: field("file_ns")?,
        tmpfs_file: field("tmpfs_file_ns")?,
        compute: field("compute_ns")?,
        wasmi_compute: field("wasmi_compute_ns")?,
        wasmi_default_compute: field("wasmi_default_compute_ns")?,
    })
}

/// Guest figures (cycles and microseconds, medians) from the shell's `time`.
struct GuestRuns {
    platform: Platform,
    spawn_cycles: f64,
    spawn_us: f64,
    round_trip_cycles: f64,
    round_trip_us: f64,
    /// One `compute` iteration, in µs.
    compute_us: f64,
}

/// `time: 1.234 ms (2468013 cycles)` → (µs, cycles).
fn parse_time(out: &str) -> Option<(f64, f64)> {
    let line = out.lines().rev().find(|l| l.starts_with("time: "))?;
    let ms: f64 = line
        .strip_prefix("time: ")?
        .split(" ms")
        .next()?
        .parse()
        .ok()?;
    let cycles: f64 = line
        .split('(')
        .nth(1)?
        .split(" cycles")
        .next()?
        .parse()
        .ok()?;
    Some((ms * 1000.0, cycles))
}

fn guest_runs(targets: &artifacts::QemuTargets, platform: Platform) -> Result<GuestRuns, String> {
    let step = Duration::from_secs(120);
    let boot = targets.boot(platform);
    let mut m = Machine::boot(&format!("bench/{}/runs", platform.name()), &boot)?;
    m.expect_prompt(Duration::from_secs(90))?;
    m.settle()?;
    let mut time = |line: &str| -> Result<(f64, f64), String> {
        let out = m.command(line, step)?;
        if !out.contains(": ok(0)") {
            return Err(format!("`{line}` did not end ok: {out:?}"));
        }
        parse_time(&out).ok_or_else(|| format!("`{line}`: no time line in {out:?}"))
    };
    const N: usize = 5;
    const TRIPS: f64 = 1000.0;
    let (mut spawn, mut one, mut many) = (Vec::new(), Vec::new(), Vec::new());
    time("time run hello")?; // warm-up (compiles and caches the module where that is on)
    for _ in 0..N {
        spawn.push(time("time run hello")?);
        one.push(time("time run pingpong 1")?);
        many.push(time(&format!("time run pingpong {TRIPS}"))?);
    }
    let pick =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let per_trip = |f: fn(&(f64, f64)) -> f64| (pick(&many, f) - pick(&one, f)) / (TRIPS - 1.0);
    // compute: (n iterations − 1) / (n − 1); the board's model runs a few hundred times slower.
    let n: f64 = if platform == Platform::Stm32f4 {
        20.0
    } else {
        200.0
    };
    let (mut c1, mut cn) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        c1.push(time("time run compute 1")?.0);
        cn.push(time(&format!("time run compute {n}"))?.0);
    }
    let compute_us = (median(&cn) - median(&c1)) / (n - 1.0);
    Ok(GuestRuns {
        platform,
        spawn_cycles: pick(&spawn, |t| t.1),
        spawn_us: pick(&spawn, |t| t.0),
        round_trip_cycles: per_trip(|t| t.1),
        round_trip_us: per_trip(|t| t.0),
        compute_us,
    })
}

fn report_runs(h: &HostRuns, guest: &[GuestRuns]) -> String {
    let rt_ratio = h.round_trip / h.pipe_round_trip;
    let spawn_ratio = h.spawn / h.posix_spawn;
    let file_ratio = h.file / h.tmpfs_file;
    println!(
        "\nruns on the host build of the kernel core, side by side with Linux (medians, one CPU)"
    );
    println!(
        "{:<34}{:>12}{:>14}{:>9}{:>9}",
        "", "ZeroBus", "Linux", "ratio", "target"
    );
    println!(
        "{:<34}{:>9.2} µs{:>11.2} µs{:>9.3}{:>9}",
        "channel round trip vs pipe",
        h.round_trip / 1e3,
        h.pipe_round_trip / 1e3,
        rt_ratio,
        "≤ 0.2"
    );
    println!(
        "{:<34}{:>9.2} µs{:>11.2} µs{:>9.3}{:>9}",
        "spawn→exit hello vs posix_spawn",
        h.spawn / 1e3,
        h.posix_spawn / 1e3,
        spawn_ratio,
        "≤ 0.05"
    );
    println!(
        "{:<34}{:>9.2} µs{:>11.2} µs{:>9.3}{:>9}",
        "open/read/close ramfs vs tmpfs",
        h.file / 1e3,
        h.tmpfs_file / 1e3,
        file_ratio,
        "-"
    );
    let compute_ratio = h.wasmi_compute / h.compute;
    println!(
        "{:<34}{:>9.2} µs{:>11.2} µs{:>9.3}{:>9}",
        "compute iteration vs plain wasmi",
        h.compute / 1e3,
        h.wasmi_compute / 1e3,
        compute_ratio,
        "≥ 0.95"
    );
    println!(
        "{:<34}{:>9.2} µs{:>11.2} µs{:>9.3}{:>9}",
        "  … vs wasmi's defaults (no fuel)",
        h.compute / 1e3,
        h.wasmi_default_compute / 1e3,
        h.wasmi_default_compute / h.compute,
        "-"
    );
    println!(
        "\nthe same inside QEMU and the browser (shell `time`, medians; compute: speed as a ratio to plain wasmi on the host)"
    );
    println!(
        "{:<10}{:>22}{:>22}{:>22}",
        "platform", "spawn→exit hello", "channel round trip", "compute iteration"
    );
    let mut json = format!(
        "  \"runs_host\": {{\"round_trip_ns\": {:.0}, \"pipe_round_trip_ns\": {:.0}, \"round_trip_ratio\": {rt_ratio:.4}, \"spawn_ns\": {:.0}, \"posix_spawn_ns\": {:.0}, \"spawn_ratio\": {spawn_ratio:.4}, \"file_ns\": {:.0}, \"tmpfs_file_ns\": {:.0}, \"file_ratio\": {file_ratio:.4}, \"compute_ns\": {:.0}, \"wasmi_compute_ns\": {:.0}, \"wasmi_default_compute_ns\": {:.0}, \"compute_ratio\": {compute_ratio:.4}}},\n  \"runs_guest\": [\n",
        h.round_trip,
        h.pipe_round_trip,
        h.spawn,
        h.posix_spawn,
        h.file,
        h.tmpfs_file,
        h.compute,
        h.wasmi_compute,
        h.wasmi_default_compute
    );
    for (i, g) in guest.iter().enumerate() {
        let ratio = h.wasmi_compute / 1e3 / g.compute_us;
        println!(
            "{:<10}{:>10.0} cyc {:>6.0} µs{:>10.0} cyc {:>6.1} µs{:>9.1} µs ({ratio:.3}×)",
            g.platform.name(),
            g.spawn_cycles,
            g.spawn_us,
            g.round_trip_cycles,
            g.round_trip_us,
            g.compute_us
        );
        json.push_str(&format!(
            "    {{\"platform\": \"{}\", \"spawn_cycles\": {:.0}, \"spawn_us\": {:.1}, \"round_trip_cycles\": {:.0}, \"round_trip_us\": {:.2}, \"compute_us\": {:.2}, \"compute_vs_host_wasmi\": {ratio:.4}}}{}\n",
            g.platform.name(),
            g.spawn_cycles,
            g.spawn_us,
            g.round_trip_cycles,
            g.round_trip_us,
            g.compute_us,
            if i + 1 < guest.len() { "," } else { "" }
        ));
    }
    json.push_str("  ]\n");
    json
}

/// What an idle kernel costs in the browser: over a few seconds with nothing ready (after
/// init's boot runs are over), the calls the worker made into the kernel and the CPU time they
/// took, per second. A kernel that polled would show thousands of calls and most of a core.
fn web_idle(targets: &artifacts::QemuTargets) -> Result<String, String> {
    const WINDOW: Duration = Duration::from_secs(5);
    let boot = targets.boot(Platform::Web).with_fresh_disk("bench-idle")?;
    let mut m = Machine::boot("bench/web/idle", &boot)?;
    m.expect_prompt(Duration::from_secs(90))?;
    m.settle()?;
    let field = |json: &str, name: &str| -> Result<f64, String> {
        crate::harness::json_number(json, name)
            .ok_or_else(|| format!("no {name} in the worker's statistics {json:?}"))
    };
    let before = m.web_stats()?;
    std::thread::sleep(WINDOW);
    let after = m.web_stats()?;
    let secs = (field(&after, "now")? - field(&before, "now")?) / 1000.0;
    let turns = (field(&after, "turns")? - field(&before, "turns")?) / secs;
    let busy = (field(&after, "busyMs")? - field(&before, "busyMs")?) / 1000.0 / secs;
    println!("\nthe browser's kernel while idle ({secs:.1} s, nothing ready)");
    println!("{:<34}{:>9.1}", "calls into the kernel per second", turns);
    println!(
        "{:<34}{:>8.3}%",
        "CPU time (share of one core)",
        busy * 100.0
    );
    Ok(format!(
        ",\n  \"web_idle\": {{\"seconds\": {secs:.2}, \"turns_per_s\": {turns:.2}, \"cpu_share\": {busy:.6}}}\n"
    ))
}

/// Bytes moved in each direction by the TCP throughput figures.
const TCP_BYTES: usize = 4 << 20;
/// Requests in the HTTP figure.
const HTTP_REQUESTS: usize = 200;

/// Sends `TCP_BYTES` to `port` on 127.0.0.1 and closes.
fn tcp_send(port: u16) -> Result<(), String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let chunk = vec![b'z'; 64 << 10];
    let mut left = TCP_BYTES;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        left -= n;
    }
    Ok(())
}

/// Reads one connection on `listener` up to `TCP_BYTES` (or its end): bytes and MB/s from the first byte.
///
/// It stops at `TCP_BYTES` without waiting for the end: a QEMU guestfwd is a character device
/// to the host, which never passes on the guest's FIN. A silent minute is an error.
fn tcp_sink(listener: &std::net::TcpListener) -> Result<(usize, f64), String> {
    use std::io::Read;
    let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    let mut start = None;
    while total < TCP_BYTES {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("the sink, after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        start.get_or_insert_with(std::time::Instant::now);
        total += n;
    }
    let secs = start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok((total, total as f64 / secs.max(1e-9) / 1e6))
}

/// `HTTP_REQUESTS` GETs of `path` over one keep-alive connection to 127.0.0.1:`port`:
/// requests per second.
fn http_rate(port: u16, path: &str) -> Result<f64, String> {
    let mut c = crate::http::Connection::open(port, Duration::from_secs(30))?;
    let start = std::time::Instant::now();
    for _ in 0..HTTP_REQUESTS {
        match c.get(path, false)? {
            (200, _) => {}
            (status, body) => return Err(format!("GET {path}: {status} {body:?}")),
        }
    }
    Ok(HTTP_REQUESTS as f64 / start.elapsed().as_secs_f64())
}

/// A host HTTP server answering every request on one keep-alive connection with `body`
/// (the baseline beside the guest's status server); its port.
fn host_http_server(body: String) -> Result<u16, String> {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let Ok(mut w) = s.try_clone() else { return };
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            // One write: a head and body in two would wait out Nagle and
                            // the client's delayed ACK (40 ms) on each request.
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                                body.len()
                            );
                            if w.write_all(answer.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    Ok(port)
}

/// TCP throughput both ways and HTTP requests/s against `/varz` on the x86_64 machine (QEMU
/// user network), each beside the same thing between two host threads on loopback.
fn net_throughput(targets: &artifacts::QemuTargets) -> Result<String, String> {
    use crate::qemu::{Network, free_port};
    let sink = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let sink_port = sink.local_addr().map_err(|e| e.to_string())?.port();
    let (status_port, recv_port) = (free_port()?, free_port()?);
    let net = Network {
        hostfwd: vec![(status_port, 80), (recv_port, 9000)],
        guestfwd: vec![(String::from("10.0.2.100:7001"), sink_port)],
        ..Default::default()
    };
    let boot = targets.boot(Platform::X86_64).with_network(&net);
    let mut m = Machine::boot("bench/x86_64/net", &boot)?;
    m.expect_prompt(Duration::from_secs(90))?;
    std::thread::sleep(Duration::from_secs(2)); // DHCP
    let step = Duration::from_secs(120);
    let figure = |out: &str| -> Option<(f64, f64)> {
        let line = out.lines().find_map(|l| l.split("tcpbench: ").nth(1))?;
        let nums: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        Some((nums.first().copied()?, nums.get(1).copied()?))
    };
    // Host → guest.
    eprintln!("bench: TCP host → guest ({TCP_BYTES} bytes)");
    m.command("run tcpbench recv 9000 &", step)?;
    std::thread::sleep(Duration::from_millis(500));
    let sender = std::thread::spawn(move || tcp_send(recv_port));
    let out = m.expect("] tcpbench: ok(0)", step)?;
    sender.join().map_err(|_| "sender panicked".to_string())??;
    let (bytes, us) = figure(&out).ok_or_else(|| format!("no tcpbench figure: {out:?}"))?;
    let in_mb_s = bytes / us;
    // Guest → host.
    eprintln!("bench: TCP guest → host ({TCP_BYTES} bytes)");
    let receiver = std::thread::spawn(move || tcp_sink(&sink));
    m.expect_prompt(step)?;
    let sent = m.command(
        &format!("run tcpbench send 10.0.2.100 7001 {TCP_BYTES}"),
        step,
    )?;
    if !sent.contains("tcpbench: sent") {
        // The sink still waits for a connection: let it have one, so that it ends.
        let _ = std::net::TcpStream::connect(("127.0.0.1", sink_port));
        let _ = receiver.join();
        return Err(format!("tcpbench send failed: {sent:?}"));
    }
    let (got, out_mb_s) = receiver.join().map_err(|_| "sink panicked".to_string())??;
    if got != TCP_BYTES {
        return Err(format!("the host received {got} of {TCP_BYTES} bytes"));
    }
    eprintln!("bench: HTTP GET /varz ×{HTTP_REQUESTS}");
    let guest_rate = http_rate(status_port, "/varz")?;
    // The host baseline serves the same body as the guest's /varz.
    let (_, varz) =
        crate::http::Connection::open(status_port, Duration::from_secs(30))?.get("/varz", true)?;
    drop(m);
    // The same on the host's loopback.
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let lp = l.local_addr().map_err(|e| e.to_string())?.port();
    let sender = std::thread::spawn(move || tcp_send(lp));
    let (_, loop_mb_s) = tcp_sink(&l)?;
    sender.join().map_err(|_| "sender panicked".to_string())??;
    let host_rate = http_rate(host_http_server(varz)?, "/varz")?;
    println!("\nnetwork on x86_64 (virtio-net, QEMU user network, TCG) beside host loopback");
    println!("{:<34}{:>12}{:>14}{:>9}", "", "ZeroBus", "host", "ratio");
    for (what, guest, host, unit) in [
        ("TCP host→guest", in_mb_s, loop_mb_s, "MB/s"),
        ("TCP guest→host", out_mb_s, loop_mb_s, "MB/s"),
        (
            "HTTP GET /varz (keep-alive)",
            guest_rate,
            host_rate,
            "req/s",
        ),
    ] {
        println!(
            "{what:<34}{guest:>7.2} {unit:<5}{host:>8.0} {unit:<5}{:>9.4}",
            guest / host
        );
    }
    Ok(format!(
        ",\n  \"net_x86_64\": {{\"tcp_in_mb_s\": {in_mb_s:.3}, \"tcp_out_mb_s\": {out_mb_s:.3}, \"loopback_mb_s\": {loop_mb_s:.1}, \"http_req_s\": {guest_rate:.1}, \"host_http_req_s\": {host_rate:.0}}}\n"
    ))
}
