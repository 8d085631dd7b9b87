//! `cargo xtask test`: host unit tests and the syscall fuzzer on the host kernel, parser fuzzing,
//! then the QEMU integration suites on every platform.
//!
//! Each suite is one boot that drives the shell like a user and checks what comes back; many
//! checks share a boot because boots are the expensive part. Platforms run in parallel.

use std::time::{Duration, Instant};

use crate::artifacts::{self, BuildOpts, QemuTargets};
use crate::cli::{Args, Platform};
use crate::harness::{Machine, StepResult};
use crate::qemu::{Boot, Outcome};

const STEP: Duration = Duration::from_secs(20);
const BOOT: Duration = Duration::from_secs(90);

struct Suite {
    name: &'static str,
    platform: Platform,
    run: fn(&QemuTargets, Platform) -> StepResult,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "shell",
        platform: Platform::X86_64,
        run: shell_session,
    },
    Suite {
        name: "federation",
        platform: Platform::X86_64,
        run: crate::federation::suite,
    },
    Suite {
        name: "panic",
        platform: Platform::X86_64,
        run: kernel_panic,
    },
    Suite {
        name: "uefi",
        platform: Platform::X86_64,
        run: uefi_boot,
    },
    Suite {
        name: "runs",
        platform: Platform::X86_64,
        run: runs_session,
    },
    Suite {
        name: "files",
        platform: Platform::X86_64,
        run: files_session,
    },
    Suite {
        name: "persist",
        platform: Platform::X86_64,
        run: persistence,
    },
    Suite {
        name: "journal",
        platform: Platform::X86_64,
        run: journal_session,
    },
    Suite {
        name: "net",
        platform: Platform::X86_64,
        run: net_session,
    },
    Suite {
        name: "isolation",
        platform: Platform::X86_64,
        run: isolation,
    },
    Suite {
        name: "shell",
        platform: Platform::Stm32f4,
        run: shell_session,
    },
    Suite {
        name: "journal",
        platform: Platform::Stm32f4,
        run: journal_session,
    },
    Suite {
        name: "panic",
        platform: Platform::Stm32f4,
        run: kernel_panic,
    },
    Suite {
        name: "runs",
        platform: Platform::Stm32f4,
        run: runs_session,
    },
    Suite {
        name: "files",
        platform: Platform::Stm32f4,
        run: files_session,
    },
    Suite {
        name: "persist",
        platform: Platform::Stm32f4,
        run: persistence,
    },
    Suite {
        name: "isolation",
        platform: Platform::Stm32f4,
        run: isolation,
    },
    Suite {
        name: "firmware",
        platform: Platform::Stm32f4,
        run: flashable_firmware,
    },
    // The browser: the same suites, through headless Chromium (the page's terminal).
    Suite {
        name: "shell",
        platform: Platform::Web,
        run: shell_session,
    },
    Suite {
        name: "runs",
        platform: Platform::Web,
        run: runs_session,
    },
    Suite {
        name: "files",
        platform: Platform::Web,
        run: files_session,
    },
    Suite {
        name: "persist",
        platform: Platform::Web,
        run: persistence,
    },
    Suite {
        name: "journal",
        platform: Platform::Web,
        run: journal_session,
    },
    Suite {
        name: "isolation",
        platform: Platform::Web,
        run: isolation,
    },
];

pub fn run_all(args: &Args) -> Result<(), String> {
    crate::env::check_toolchain()?;
    if !args.no_unit {
        println!("== host unit tests");
        artifacts::run_checked(artifacts::cargo().args(["test", "--quiet"]))?;
        // The journal's host-file medium lives in the benchmark crate (not a default member).
        artifacts::run_checked(artifacts::cargo().args([
            "test",
            "--quiet",
            "-p",
            "zb-journal-bench",
        ]))?;
        // The syscall fuzzer against the host build of the kernel (seeds, bounded time).
        println!(
            "== syscall fuzzer (host kernel, {} seeds)",
            crate::sysfuzz::SEEDS
        );
        crate::sysfuzz::smoke()?;
    }
    if !args.no_fuzz {
        // Every parser target briefly (cargo-fuzz is installed on first use); the long runs
        // are `cargo xtask fuzz` (README "Fuzzing").
        println!("== parser fuzzing");
        crate::fuzz::smoke()?;
    }

    let selected: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| {
            args.only
                .as_deref()
                .is_none_or(|o| format!("{}/{}", s.platform.name(), s.name).contains(o))
        })
        .collect();
    if selected.is_empty() {
        return Err("no integration suite matches --only".into());
    }

    println!("== building test images");
    // The federation suite has a browser node too.
    let web = selected
        .iter()
        .any(|s| s.platform == Platform::Web || s.name == "federation");
    let targets = artifacts::build_for_qemu(
        &BuildOpts {
            release: true,
            test_hooks: true,
            qemu: true,
        },
        web,
    )?;

    println!(
        "== integration suites ({} boots in QEMU and Chromium; the PC beside the board, then the browser)",
        selected.len()
    );
    // Two lines of suites, one per core: the PC's, and the board's followed by the browser's.
    // (Three at once on two cores slowed the PC's enough that its journal-quota check could
    // no longer emit faster than the quota's rate.)
    let lines: [&[Platform]; 2] = [&[Platform::X86_64], &[Platform::Stm32f4, Platform::Web]];
    let results: Vec<(String, Duration, StepResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .into_iter()
            .map(|platforms| {
                let suites: Vec<&Suite> = platforms
                    .iter()
                    .flat_map(|&p| selected.iter().copied().filter(move |s| s.platform == p))
                    .collect();
                let targets = &targets;
                scope.spawn(move || {
                    suites
                        .into_iter()
                        .map(|s| {
                            let start = Instant::now();
                            let platform = s.platform;
                            let result = (s.run)(targets, platform);
                            let name = format!("{}/{}", platform.name(), s.name);
                            println!(
                                "test {name} ... {} ({:.1} s)",
                                if result.is_ok() { "ok" } else { "FAILED" },
                                start.elapsed().as_secs_f64()
                            );
                            (name, start.elapsed(), result)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });

    let failed: Vec<_> = results.iter().filter(|r| r.2.is_err()).collect();
    for (name, _, result) in &failed {
        if let Err(e) = result {
            eprintln!("\n==== {name} FAILED\n{e}");
        }
    }
    println!(
        "\nintegration: {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} integration suite(s) failed", failed.len()))
    }
}

/// Boots and waits for the banner and the first prompt; checks the banner.
fn boot_to_prompt(name: &str, boot: &Boot) -> StepResult<(Machine, String)> {
    let mut m = Machine::boot(name, boot)?;
    let banner = m.expect_prompt(BOOT)?;
    let platform = boot.platform.name();
    for want in [
        "ZeroBus OS ",
        platform,
        "memory: ",
        "disk: ",
        "boot: kernel entry to prompt ",
    ] {
        if !banner.contains(want) {
            return m.fail(format!("boot banner lacks {want:?}"));
        }
    }
    Ok((m, banner))
}

fn uptime_ms(m: &Machine, out: &str) -> StepResult<u64> {
    // "up 00:00:01.234 (1.234 s)"
    let inside = out.split('(').nth(1).and_then(|s| s.split(" s)").next());
    let parsed = inside.and_then(|s| {
        let (sec, ms) = s.trim().split_once('.')?;
        Some(sec.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?)
    });
    match parsed {
        Some(v) if out.trim_start().starts_with("up ") => Ok(v),
        _ => m.fail(format!("uptime output malformed: {out:?}")),
    }
}

/// Every shell command and the line editor, over one boot (plus a reboot).
fn shell_session(t: &QemuTargets, platform: Platform) -> StepResult {
    let boot = t.boot(platform).with_fresh_disk("shell")?;
    let (mut m, _) = boot_to_prompt(&format!("{}/shell", platform.name()), &boot)?;

    // help lists every command with a description.
    let help = m.check("help", &["commands:"], STEP)?;
    for cmd in [
        "help", "echo", "uptime", "mem", "version", "clear", "shutdown", "reboot",
    ] {
        if !help
            .lines()
            .any(|l| l.trim_start().starts_with(cmd) && l.len() > cmd.len() + 10)
        {
            return m.fail(format!("help does not describe `{cmd}`: {help:?}"));
        }
    }
    m.check("help uptime", &["usage: uptime"], STEP)?;

    let out = m.command("echo hello world", STEP)?;
    if out != "hello world\n" {
        return m.fail(format!("echo printed {out:?}"));
    }
    m.check(
        r#"echo "quoted  words" 'and more'"#,
        &["quoted  words and more\n"],
        STEP,
    )?;

    let version = m.check(
        "version",
        &[
            "ZeroBus OS 0.1.0",
            &format!("({}, release build)", platform.name()),
        ],
        STEP,
    )?;
    if !version.contains("boot: kernel entry to prompt ") {
        return m.fail("version lacks the boot time");
    }

    let mem = m.check("mem", &["used", "free", "total", "heap", "ram"], STEP)?;
    let heap_line = mem
        .lines()
        .find(|l| l.starts_with("heap"))
        .unwrap_or_default()
        .to_string();
    let sizes = heap_line
        .split_whitespace()
        .filter(|w| matches!(*w, "B" | "KiB" | "MiB" | "GiB"))
        .count();
    if sizes != 3 {
        return m.fail(format!("mem heap line malformed: {heap_line:?}"));
    }
    let frames = mem
        .lines()
        .find(|l| l.starts_with("frames"))
        .unwrap_or_default()
        .to_string();
    let expect_frames = platform == Platform::X86_64;
    if platform != Platform::X86_64 {
        // The board's and the browser's archives leave out the network programs: said once,
        // plainly.
        m.check(
            "ping 10.0.2.2",
            &["ping: /bin/ping is not on this system\n"],
            STEP,
        )?;
        m.check("ifconfig", &["ifconfig: no network interface"], STEP)?;
    }
    let numbers: Vec<u64> = frames
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match (expect_frames, numbers.as_slice()) {
        (true, [used, free, total, ..]) if used + free == *total && *used > 0 => {}
        (false, _) if frames.contains("n/a") => {}
        _ => {
            return m.fail(format!(
                "mem frames line wrong for {}: {frames:?}",
                platform.name()
            ));
        }
    }

    let up1 = m.command("uptime", STEP)?;
    let up1 = uptime_ms(&m, &up1)?;
    std::thread::sleep(Duration::from_millis(200));
    let up2 = m.command("uptime", STEP)?;
    let up2 = uptime_ms(&m, &up2)?;
    // Only progress is asserted, not its rate: QEMU's guest clock lags the wall clock when the
    // host is loaded, and timing thresholds do not belong in tests.
    if up2 <= up1 {
        return m.fail(format!("uptime did not advance: {up1} ms then {up2} ms"));
    }

    m.check(
        "frobnicate --now",
        &["unknown command: frobnicate (try help)"],
        STEP,
    )?;

    // Line editing.
    m.check("echo helloo\x7f", &["hello\n"], STEP)?;
    let out = m.command("echo garbage\x15echo clean", STEP)?;
    if out != "clean\n" {
        return m.fail(format!("Ctrl-U did not clear the line: {out:?}"));
    }
    m.type_bytes(b"echo cancelled\x03")?;
    m.expect("^C", STEP)?;
    let out = m.expect_prompt(STEP)?;
    if out.contains("cancelled\r\n") {
        return m.fail("Ctrl-C ran the line instead of cancelling it");
    }
    m.check("echo wrld\x1b[D\x1b[D\x1b[Do", &["world\n"], STEP)?;
    m.check("echo first", &["first"], STEP)?;
    m.check("echo second", &["second"], STEP)?;
    let out = m.command("\x1b[A\x1b[A", STEP)?;
    if out != "first\n" {
        return m.fail(format!("Up Up did not recall `echo first`: {out:?}"));
    }
    // History is now: …, echo first, echo second, echo first.
    let out = m.command("\x1b[A\x1b[A\x1b[A\x1b[B", STEP)?;
    if out != "second\n" {
        return m.fail(format!(
            "Up Up Up Down did not recall `echo second`: {out:?}"
        ));
    }

    // Over-long line: refused with a message, the shell goes on.
    m.type_bytes(&vec![b'x'; 1500])?;
    m.type_bytes(b"\r")?;
    m.expect("line too long", STEP)?;
    m.expect_prompt(STEP)?;
    m.check("echo after long line", &["after long line\n"], STEP)?;

    // A burst of random bytes (every value, escape sequences included), then a working command.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let burst: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    m.type_bytes(&burst)?;
    m.type_bytes(b"\x03")?;
    m.resync("still-alive-after-4096-random-bytes", STEP)?;
    // A flood with no line end at all.
    m.type_bytes(&vec![b'z'; 20_000])?;
    m.type_bytes(b"\r")?;
    m.resync("survived-a-flood-of-20000-bytes", STEP)?;

    let out = m.command("clear", STEP)?;
    if !out.contains("\x1b[2J") {
        return m.fail("clear did not clear the screen");
    }

    // Reboot: the machine resets and boots to a prompt again.
    m.type_bytes(b"reboot\r")?;
    m.expect("rebooting", STEP)?;
    m.expect("boot: kernel entry to prompt", BOOT)?;
    m.expect_prompt(STEP)?;
    m.check("echo back after reboot", &["back after reboot\n"], STEP)?;

    // Shutdown ends QEMU with success.
    m.type_bytes(b"shutdown\r")?;
    m.expect("shutting down", STEP)?;
    match m.wait_exit(STEP)? {
        Outcome::Success => Ok(()),
        other => m.fail(format!("shutdown ended QEMU with {other}")),
    }
}

/// A `ps` row, split into columns: PID PPID STATE NAME MEM(2 words) KMEM(2 words) CPU INFO...
struct PsRow {
    state: String,
    cpu: u64,
    info: String,
}

fn ps_row(m: &Machine, ps: &str, pid: u32) -> StepResult<PsRow> {
    let line = ps
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
        .map(str::to_string);
    let Some(line) = line else {
        return m.fail(format!("ps has no row for pid {pid}: {ps:?}"));
    };
    let cols: Vec<&str> = line.split_whitespace().collect();
    match cols.as_slice() {
        [_, _, state, _, _, _, _, _, cpu, info @ ..] => match cpu.parse() {
            Ok(cpu) => Ok(PsRow {
                state: state.to_string(),
                cpu,
                info: info.join(" "),
            }),
            Err(_) => m.fail(format!("ps CPU column is not a number: {line:?}")),
        },
        _ => m.fail(format!("ps row malformed: {line:?}")),
    }
}

/// `[<pid>] <name>` as `run … &` prints it.
fn job_pid(m: &Machine, out: &str, name: &str) -> StepResult<u32> {
    let pid = out.lines().find_map(|l| {
        let rest = l.trim().strip_prefix('[')?;
        let (pid, tail) = rest.split_once("] ")?;
        (tail.trim() == name).then(|| pid.parse().ok()).flatten()
    });
    match pid {
        Some(p) => Ok(p),
        None => m.fail(format!("no `[pid] {name}` in {out:?}")),
    }
}

/// The pid in a run's exit report, `[<pid>] <name>: <status>`.
fn ended_pid(m: &Machine, out: &str, name: &str) -> StepResult<u32> {
    let pid = out.lines().find_map(|l| {
        let rest = l.trim().strip_prefix('[')?;
        let (pid, tail) = rest.split_once("] ")?;
        tail.starts_with(&format!("{name}: "))
            .then(|| pid.parse().ok())
            .flatten()
    });
    match pid {
        Some(p) => Ok(p),
        None => m.fail(format!("no `[pid] {name}: …` in {out:?}")),
    }
}

/// Wasm runs from the boot image, over one boot: every user-visible behaviour of issue 3.
fn runs_session(t: &QemuTargets, platform: Platform) -> StepResult {
    let long = Duration::from_secs(60);
    let boot = t.boot(platform).with_fresh_disk("runs")?;
    let (mut m, banner) = boot_to_prompt(&format!("{}/runs", platform.name()), &boot)?;
    if !banner.contains("boot files: ") || banner.contains("boot files: none") {
        return m.fail("the boot image carries no programs");
    }
    m.settle()?;
    if platform == Platform::Web {
        idle_in_the_browser(&mut m)?;
    }

    // Every call with hostile arguments: errors to the run, the kernel carries on. First, on a
    // fresh heap: it and its probe (two instances of a 17 KiB module with 14 KiB of memory
    // each) take nearly all of the STM32F4's, and the first-fit heap fragments as runs come
    // and go.
    m.check("run hostile", &["checks passed", "] hostile: ok(0)"], long)?;

    // A program nobody compiled into the kernel prints and reports its status.
    let out = m.check(
        "run hello",
        &["hello from ZeroBus OS", "] hello: ok(0)"],
        STEP,
    )?;
    if !out.contains("(pid ") {
        return m.fail(format!("hello did not report its pid: {out:?}"));
    }
    m.check("run echo a b c", &["a b c\n", "] echo: ok(0)"], STEP)?;
    m.check("run nope", &["run: no such program: nope"], STEP)?;

    // Failures end only the run that failed.
    m.check("run trap", &["] trap: panic: ", "unreachable"], STEP)?;
    m.check("run notwasm", &["] notwasm: invalid: "], STEP)?;
    m.check("run memhog", &["] memhog: rejected: "], long)?;
    // A big run holding much of the kernel heap, then more runs than fit beside it: each is
    // refused with the reason or ended when the heap runs out — never a kernel panic — and
    // once the big one ends, runs start again. (On the STM32F4 the ledger takes most of the
    // heap; on x86_64 init already runs it, and 64 MiB leave no pressure.)
    if platform == Platform::Stm32f4 {
        memory_pressure(&mut m, long)?;
    }

    // A spinning background run: the shell stays responsive, ps shows its CPU use growing.
    let out = m.command("run spin &", STEP)?;
    let spin = job_pid(&m, &out, "spin")?;
    // Its first line arrives after the prompt; the shell draws the prompt again below it.
    m.expect("spinning forever", STEP)?;
    m.expect_prompt(STEP)?;
    m.check("echo still responsive", &["still responsive\n"], STEP)?;
    let first = m.command("ps", STEP)?;
    for col in ["PID", "PPID", "STATE", "NAME", "MEM", "KMEM", "CPU"] {
        if !first.contains(col) {
            return m.fail(format!("ps header lacks {col}: {first:?}"));
        }
    }
    if !first.contains("console") {
        return m.fail(format!("ps does not list the console service: {first:?}"));
    }
    let a = ps_row(&m, &first, spin)?;
    if !(a.state == "EXEC" || (a.state == "WAIT" && a.info == "ready")) {
        return m.fail(format!("spin is not running or ready: {first:?}"));
    }
    m.check("uptime", &["up "], STEP)?;
    let second = m.command("ps", STEP)?;
    let b = ps_row(&m, &second, spin)?;
    if b.cpu <= a.cpu {
        return m.fail(format!(
            "spin's CPU use did not grow: {} then {}",
            a.cpu, b.cpu
        ));
    }
    // Two runs ping-pong over a channel while spin keeps running.
    let pingpong = m.check(
        "run pingpong 1000",
        &["pingpong: 1000 round trips", "] pingpong: ok(0)"],
        long,
    )?;
    m.check(&format!("kill {spin}"), &[], STEP)?;
    m.expect(&format!("[{spin}] spin: rejected: killed"), STEP)?;
    m.expect_prompt(STEP)?; // the prompt is drawn again below the announcement
    let after = m.command("ps", STEP)?;
    let c = ps_row(&m, &after, spin)?;
    if c.state != "DONE" || !c.info.contains("rejected: killed") {
        return m.fail(format!(
            "a killed run is not DONE/rejected in ps: {after:?}"
        ));
    }
    m.check(&format!("kill {spin}"), &["no such run"], STEP)?;

    // Ctrl-C ends a foreground run.
    m.type_bytes(b"run spin\r")?;
    m.expect("run spin\r\n", STEP)?;
    std::thread::sleep(Duration::from_millis(300));
    m.type_bytes(b"\x03")?;
    m.expect("^C", STEP)?;
    m.expect("] spin: rejected: killed", STEP)?;
    m.expect_prompt(STEP)?;

    // Type-ahead: a line typed while a foreground run has the terminal (and does not read
    // it) is the shell's once the run ends, not lost.
    m.type_bytes(b"run sleeper 300\r")?;
    m.expect("sleeper: sleeping 300 ms", STEP)?;
    m.type_bytes(b"echo typed ahead\r")?;
    m.expect("sleeper: woke up", STEP)?;
    m.expect("\r\ntyped ahead\r\n", STEP)?;
    m.expect_prompt(STEP)?;

    // wait blocks until a background run ends and prints its status.
    let out = m.command("run sleeper 300 &", STEP)?;
    let sleeper = job_pid(&m, &out, "sleeper")?;
    m.expect("sleeper: sleeping 300 ms", STEP)?;
    m.expect_prompt(STEP)?;
    m.check(
        &format!("wait {sleeper}"),
        &[&format!("[{sleeper}] sleeper: ok(0)")],
        long,
    )?;
    m.check(&format!("wait {sleeper}"), &["ok(0)"], STEP)?;
    // Replay: the sleeper re-executed from its recorded inputs (arguments, clock, sleep)
    // proves the same outputs, twice with the same hash; live and unknown runs are refused.
    let first = m.check(
        &format!("replay {sleeper}"),
        &["identical ", "ended ok(0))"],
        STEP,
    )?;
    let again = m.check(&format!("replay {sleeper}"), &["identical "], STEP)?;
    let hash = |out: &str| {
        out.split("identical ")
            .nth(1)
            .map(|h| h.chars().take(16).collect::<String>())
    };
    if hash(&first) != hash(&again) || hash(&first).is_none_or(|h| h.len() != 16) {
        return m.fail(format!("two replays differ: {first:?} then {again:?}"));
    }
    m.check("replay 99999", &["replay: no recording of run 99999"], STEP)?;
    m.check("replay 1", &["replay: no recording of run 1"], STEP)?;
    let out = m.command("run sleeper 5000 &", STEP)?;
    let long_sleeper = job_pid(&m, &out, "sleeper")?;
    m.expect_prompt(STEP)?;
    m.check(
        &format!("replay {long_sleeper}"),
        &[&format!("replay: run {long_sleeper} has not finished")],
        STEP,
    )?;
    m.check(&format!("kill {long_sleeper}"), &[], STEP)?;
    m.expect(&format!("[{long_sleeper}] sleeper: rejected: killed"), STEP)?;
    m.expect_prompt(STEP)?;
    m.check(
        &format!("replay {long_sleeper}"),
        &[
            "identical ",
            "replayed up to where it was stopped: rejected: killed)",
        ],
        STEP,
    )?;
    // Messages received over a channel are inputs too: pingpong's two runs replay on a PC;
    // on the board their recordings (2000 calls) outgrow the 1 KiB a recording may take there.
    let pong = ended_pid(&m, &pingpong, "pingpong")?;
    match platform {
        Platform::X86_64 | Platform::Web => {
            m.check(
                &format!("replay {pong}"),
                &["identical ", "ended ok(0))"],
                long,
            )?;
        }
        Platform::Stm32f4 => {
            m.check(
                &format!("replay {pong}"),
                &[&format!(
                    "replay: run {pong} made more calls than a recording holds"
                )],
                STEP,
            )?;
        }
    }

    // proc:// and mem:// are served by the kernel; ps and mem are built on them.
    m.check(
        "cat proc://self/status",
        &["pid: 1\n", "name: console\n", "kind: service\n"],
        STEP,
    )?;
    m.check(
        &format!("cat proc://{sleeper}/status"),
        &[
            &format!("pid: {sleeper}\n"),
            "name: sleeper\n",
            "exit: ok(0)\n",
        ],
        STEP,
    )?;
    m.check("cat mem://heap", &["used: ", "free: ", "total: "], STEP)?;
    m.check(
        "cat proc://99999/status",
        &["no such file or directory"],
        STEP,
    )?;
    m.check("cat nope://x", &["no such file or directory"], STEP)?;
    m.check("cat proc://self/status%2e", &["invalid argument"], STEP)?;
    m.check(
        "kinds",
        &[
            "0x02000001  service  console",
            "scheme   proc              kernel",
        ],
        STEP,
    )?;

    // A foreground run reads the terminal: lines go to it, Ctrl-D ends its input.
    m.type_bytes(b"run cat-upper\r")?;
    m.expect("run cat-upper\r\n", STEP)?;
    m.type_bytes(b"hello zerobus\r")?;
    m.expect("HELLO ZEROBUS", STEP)?;
    m.type_bytes(b"second line\r")?;
    m.expect("SECOND LINE", STEP)?;
    m.type_bytes(b"\x04")?;
    m.expect("cat-upper: 26 bytes", STEP)?;
    let ended = m.expect("] cat-upper: ok(0)", STEP)?;
    m.expect_prompt(STEP)?;
    // What was typed is recorded with the run: its replay reads the same lines.
    let upper = ended
        .rsplit('[')
        .next()
        .and_then(|p| p.trim().parse::<u32>().ok());
    let Some(upper) = upper else {
        return m.fail(format!("no pid before cat-upper's exit report: {ended:?}"));
    };
    m.check(
        &format!("replay {upper}"),
        &["identical ", "ended ok(0))"],
        STEP,
    )?;
    // A background run reading stdin sees the end of input at once.
    m.command("run cat-upper &", STEP)?;
    m.expect("cat-upper: 0 bytes", STEP)?;
    m.expect("] cat-upper: ok(0)", STEP)?;
    m.expect_prompt(STEP)?;
    m.check("echo kernel alive", &["kernel alive\n"], STEP)?;
    shut_down(&mut m)
}

/// With nothing ready and no deadline (init's boot runs over, no timers), the browser's kernel
/// is not called at all: the worker waits for input, it does not poll.
fn idle_in_the_browser(m: &mut Machine) -> StepResult {
    let turns = |m: &Machine, stats: &str| -> StepResult<f64> {
        crate::harness::json_number(stats, "turns")
            .map_or_else(|| m.fail(format!("no turns in {stats:?}")), Ok)
    };
    let before = m.web_stats()?;
    std::thread::sleep(Duration::from_secs(2));
    let after = m.web_stats()?;
    let (a, b) = (turns(m, &before)?, turns(m, &after)?);
    if a != b {
        return m.fail(format!(
            "an idle kernel was called {} times in 2 s ({before} then {after})",
            b - a
        ));
    }
    Ok(())
}

/// Files through the vfs service: the user's file session with its errors, mounts, URL
/// grants with the kernel's denial in the log, and init's restarts with the rate limit.
fn files_session(t: &QemuTargets, platform: Platform) -> StepResult {
    let boot = t.boot(platform).with_fresh_disk("files")?;
    let (mut m, _) = boot_to_prompt(&format!("{}/files", platform.name()), &boot)?;
    m.settle()?;
    m.check("ls /", &["bin/\n", "etc/\n", "tmp/\n", "data/\n"], STEP)?;
    m.check("ls /bin", &["hello\n", "cat-upper\n", "fileapp\n"], STEP)?;
    m.check("cat /etc/motd", &["Welcome to ZeroBus OS."], STEP)?;
    m.check("cd /data", &[], STEP)?;
    m.check("pwd", &["/data\n"], STEP)?;
    m.check("echo hello > /data/note.txt", &[], STEP)?;
    m.check("echo more >> note.txt", &[], STEP)?;
    m.check("cat /data/note.txt", &["hello\nmore\n"], STEP)?;
    m.check("mkdir d", &[], STEP)?;
    m.check("mkdir d", &["mkdir: d: already exists"], STEP)?;
    m.check("cp note.txt d/copy.txt", &[], STEP)?;
    m.check("cat d/copy.txt", &["hello\nmore\n"], STEP)?;
    m.check("rmdir d", &["rmdir: d: directory not empty"], STEP)?;
    m.check("mv d/copy.txt moved.txt", &[], STEP)?;
    m.check("ls", &["d/\n", "moved.txt\n", "note.txt\n"], STEP)?;
    m.check("ls -l", &["-         11  note.txt"], STEP)?;
    m.check(
        "stat note.txt",
        &["type: file", "size: 11", "read-write"],
        STEP,
    )?;
    m.check("rm moved.txt", &[], STEP)?;
    m.check("rmdir d", &[], STEP)?;
    m.check(
        "rm nothing.txt",
        &["rm: nothing.txt: no such file or directory"],
        STEP,
    )?;
    m.check("cat note.txt/x", &["not a directory"], STEP)?;
    m.check("cat /data", &["is a directory"], STEP)?;
    m.check("cd /etc/motd", &["not a directory"], STEP)?;
    m.check("cd /nope", &["no such file or directory"], STEP)?;
    m.check("cat ../../../etc/motd", &["Welcome to ZeroBus OS."], STEP)?;
    m.check("rm /bin/hello", &["read-only file system"], STEP)?;
    m.check("echo x > /etc/new", &["read-only file system"], STEP)?;
    m.check("rmdir /tmp", &["busy"], STEP)?;
    m.check(
        "mount",
        &[
            "on / type ramfs (ro)",
            "on /tmp type ramfs (rw)",
            "on /data type",
        ],
        STEP,
    )?;
    m.check("df", &["MOUNT", "/tmp", "/data"], STEP)?;
    m.check(
        "kinds",
        &[
            "service  vfs",
            "scheme   file",
            "service  init",
            "driver   ",
        ],
        STEP,
    )?;
    // URL grants: the run reaches /data/app and nothing else; the kernel logs the denial.
    m.check(
        "run --allow file:///data/app fileapp",
        &[
            "wrote and read back /data/app/hello.txt (19 bytes, same)",
            "fileapp: /etc/motd: permission denied",
            "] fileapp: ok(0)",
        ],
        STEP,
    )?;
    m.check(
        "run --allow file:///data/other fileapp /data/app",
        &["mkdir /data/app: permission denied", "] fileapp: ok(1)"],
        STEP,
    )?;
    m.check("cat /data/app/hello.txt", &["written by fileapp"], STEP)?;
    // init restarted the failing boot run per its policy, then gave up at the rate limit.
    m.check(
        "dmesg",
        &[
            "kernel: denied open file:///etc/motd to pid",
            "init: started flaky",
            "init: restarted flaky",
            "init: flaky: giving up: restarted 3 times",
        ],
        STEP,
    )?;
    // Grants cover the bus too; and one run's emits are bounded by its journal quota.
    restricted_bus(&mut m)?;
    journal_quota(&mut m, platform)?;
    shut_down(&mut m)
}

/// Types `shutdown` and expects QEMU to exit with success.
fn shut_down(m: &mut Machine) -> StepResult {
    m.type_bytes(b"shutdown\r")?;
    match m.wait_exit(STEP)? {
        Outcome::Success => Ok(()),
        other => m.fail(format!("shutdown ended QEMU with {other}")),
    }
}

/// /data keeps what was written: across `reboot` (both platforms), and on x86_64 across a hard
/// kill of QEMU right after a write was acknowledged (the prompt came back), booting again with
/// the same disk.
fn persistence(t: &QemuTargets, platform: Platform) -> StepResult {
    let name = format!("{}/persist", platform.name());
    let boot = t.boot(platform).with_fresh_disk("persist")?;
    let (mut m, banner) = boot_to_prompt(&name, &boot)?;
    if !banner.contains("vfs: formatted /data") {
        return m.fail(format!("a new disk is not formatted at boot: {banner:?}"));
    }
    let (device, driver) = match platform {
        Platform::X86_64 => (
            "virtio-blk on /data type fat16 (rw)",
            "0x01020001  driver   virtio-blk",
        ),
        // QEMU's STM32F4 cannot write its flash: /data is RAM modelling it (hal/stm32f4).
        Platform::Stm32f4 => (
            "ram-flash on /data type fat12 (rw)",
            "0x01020003  driver   ram-flash",
        ),
        Platform::Web => ("opfs on /data type fat16 (rw)", "0x01020004  driver   opfs"),
    };
    m.check("mount", &[device], STEP)?;
    m.check("kinds", &[driver], STEP)?;
    m.check("echo first > /data/note.txt", &[], STEP)?;
    m.check("mkdir /data/keep", &[], STEP)?;
    m.type_bytes(b"reboot\r")?;
    m.expect("rebooting", STEP)?;
    m.expect("boot: kernel entry to prompt", BOOT)?;
    let again = m.expect_prompt(STEP)?;
    if again.contains("vfs: formatted") {
        return m.fail("the disk was formatted again after a reboot");
    }
    m.check("cat /data/note.txt", &["first\n"], STEP)?;
    m.check("ls /data", &["keep/\n", "note.txt\n"], STEP)?;
    if platform == Platform::Stm32f4 {
        // RAM standing in for flash survives a reset, not a power cycle (a new QEMU): done.
        return shut_down(&mut m);
    }
    if platform == Platform::Web {
        return web_persistence(m, &name, &boot);
    }
    // Acknowledged (the prompt is back), then QEMU is killed without warning.
    m.check("echo acknowledged >> /data/note.txt", &[], STEP)?;
    m.check(
        "write /data/keep/last.txt written before the kill",
        &[],
        STEP,
    )?;
    drop(m);
    let mut m = files_survived_the_kill(&name, &boot)?;
    shut_down(&mut m)
}

/// Boots `boot` again after its machine was killed right after the persistence check's
/// acknowledged writes: `/data` mounts as it was (not formatted again) and holds them.
fn files_survived_the_kill(name: &str, boot: &Boot) -> StepResult<Machine> {
    let (mut m, banner) = boot_to_prompt(name, boot)?;
    if !banner.contains("vfs: mounted /data") || banner.contains("vfs: formatted") {
        return m.fail(format!("/data did not mount as it was: {banner:?}"));
    }
    m.check("cat /data/note.txt", &["first\nacknowledged\n"], STEP)?;
    m.check(
        "cat /data/keep/last.txt",
        &["written before the kill\n"],
        STEP,
    )?;
    Ok(m)
}

/// The event journal and the bus from the shell (issue: EMIT, `sub`, `log`): emit with the
/// sequence number once durable, idempotency keys, refusals with their reason, wildcard
/// queries, a live subscriber, events kept across `reboot`; on x86_64 also across hard kills
/// of QEMU in the middle of bursts of emits, several times in a row.
fn journal_session(t: &QemuTargets, platform: Platform) -> StepResult {
    let name = format!("{}/journal", platform.name());
    let boot = t.boot(platform).with_fresh_disk("journal")?;
    let (mut m, banner) = boot_to_prompt(&name, &boot)?;
    let medium = match platform {
        Platform::X86_64 => "journal: formatted (virtio-blk)",
        Platform::Stm32f4 => "journal: formatted (ram-flash)",
        Platform::Web => "journal: formatted (opfs)",
    };
    if !banner.contains(medium) {
        return m.fail(format!("no {medium:?} line at boot: {banner:?}"));
    }
    // The PC's real-time clock gives cron timers the date (QEMU's RTC runs at host UTC).
    let year = banner
        .split("clock: ")
        .nth(1)
        .and_then(|rest| rest.get(..4))
        .and_then(|y| y.parse::<u32>().ok());
    match platform {
        Platform::X86_64 | Platform::Web if !year.is_some_and(|y| y >= 2024) => {
            return m.fail(format!("no real-time clock line at boot: {banner:?}"));
        }
        Platform::Stm32f4
            if !banner.contains("clock: no real-time clock (set the time with date -s)") =>
        {
            return m.fail(format!(
                "a clock line on a board without a real-time clock: {banner:?}"
            ));
        }
        _ => {}
    }
    m.settle()?;
    // (Orders, not ledger commands: the ledger app answers those with events of its own,
    // which would shift the sequence numbers checked here.)
    let transfer = r#"'{"item":"book","qty":1}'"#;
    m.check(
        &format!("emit shop.order.placed {transfer}"),
        &["1\n"],
        STEP,
    )?;
    // The same idempotency key: the first sequence number again, nothing appended.
    m.check(
        &format!("emit shop.order.placed {transfer} idempotency_key=t-2"),
        &["2\n"],
        STEP,
    )?;
    m.check(
        &format!("emit shop.order.placed {transfer} idempotency_key=t-2"),
        &["2 (duplicate)\n"],
        STEP,
    )?;
    // The same key on another subject is another fact: appended.
    m.check(
        r#"emit shop.order.shipped '{"carrier":"post"}' idempotency_key=t-2"#,
        &["3\n"],
        STEP,
    )?;
    m.check(r#"emit sensors.temp '{"c":21.5}'"#, &["4\n"], STEP)?;
    // Refusals say why and append nothing.
    m.check(
        r#"emit ledger.transfer.requested '{"amount":}'"#,
        &["emit: invalid argument: the payload is not JSON"],
        STEP,
    )?;
    // The boot image's schema (/etc/events/ledger.transfer.requested.v1.json) is checked.
    m.check(
        r#"emit ledger.transfer.requested '{"from":"alice","to":"bob","amount":-3}'"#,
        &["emit: invalid argument: the payload does not match ledger.transfer.requested.v1: /amount: -3 is less than minimum 1"],
        STEP,
    )?;
    m.check(
        r#"emit ledger.transfer.requested '{"from":"alice","amount":3}'"#,
        &[r#"missing required property "to""#],
        STEP,
    )?;
    m.check(
        "emit 'ledger..x' '{}'",
        &["emit: invalid argument: subject"],
        STEP,
    )?;
    m.check(
        "emit 'ledger.*' '{}'",
        &["emit: invalid argument: subject"],
        STEP,
    )?;
    m.check("log 'a.>.b'", &["log: invalid argument: pattern"], STEP)?;
    // Queries with NATS wildcards.
    let all = m.check(
        "log 'shop.>'",
        &[
            "1 shop.order.placed {\"item\":\"book\"",
            "3 shop.order.shipped",
        ],
        STEP,
    )?;
    if all.contains("sensors") || all.matches("shop.order.placed").count() != 2 {
        return m.fail(format!("`log shop.>` listed the wrong events: {all:?}"));
    }
    let one = m.check("log 'shop.*.shipped'", &["3 shop.order.shipped"], STEP)?;
    if one.contains("placed") {
        return m.fail(format!("`*` matched more than one token: {one:?}"));
    }
    let page = m.check(
        "log '>' --from 2 --limit 2",
        &["2 shop.order.placed", "3 shop.order.shipped"],
        STEP,
    )?;
    if page.contains("\n1 ") || page.contains("4 sensors") {
        return m.fail(format!("--from 2 --limit 2 listed more: {page:?}"));
    }
    m.check("log 'ledger.>' --from x", &["usage"], STEP)?;
    // A live subscriber in the background sees what is emitted after it started, and only that.
    let pid = background_pid(&mut m, "run sub 'sensors.>' &")?;
    m.check(r#"emit sensors.humidity '{"rh":40}'"#, &["5\n"], STEP)?;
    m.expect("5 sensors.humidity {\"rh\":40}", STEP)?;
    stop_bus(&mut m, &pid)?;
    // The event it received is recorded with it: its replay gets the same event, writes the
    // same line, and ends where the subscriber was stopped.
    m.check(
        &format!("replay {pid}"),
        &[
            "identical ",
            "replayed up to where it was stopped: rejected: killed)",
        ],
        STEP,
    )?;
    // A durable subscriber that fails every event: redelivered with backoff, then given up to
    // the dead-letter subject.
    let pid = background_pid(
        &mut m,
        "run sub 'orders.>' --durable billing --max-deliver 3 --fail &",
    )?;
    m.check(r#"emit orders.new '{"id":1}'"#, &[], STEP)?;
    m.expect("orders.new {\"id\":1} (attempt 3)", STEP)?;
    // Given up once its third delivery's backoff (400 ms) has passed.
    std::thread::sleep(Duration::from_millis(1500));
    let dead = m.command("log 'dlq.>'", STEP)?;
    if dead.matches("dlq.billing.orders.new").count() != 1 {
        return m.fail(format!("not dead-lettered exactly once: {dead:?}"));
    }
    if m.transcript().contains("(attempt 4)") {
        return m.fail("delivered more than max-deliver times");
    }
    stop_bus(&mut m, &pid)?;
    m.check("dlq billing", &["dlq.billing.orders.new {\"id\":1}"], STEP)?;
    // Request/reply: an echo service answers; with nobody to answer, the request times out.
    let echo = background_pid(&mut m, "run req --serve 'svc.echo' &")?;
    m.check(
        r#"req svc.echo '{"x":1}' --timeout 2s"#,
        &["{\"x\":1}\n"],
        STEP,
    )?;
    stop_bus(&mut m, &echo)?;
    m.check(
        "req svc.nobody '{}' --timeout 300ms",
        &["req: timed out: no reply to svc.nobody within 300 ms"],
        STEP,
    )?;
    // A queue group: each event goes to exactly one of the two workers.
    let w1 = background_pid(&mut m, "run sub 'jobs.>' --queue workers &")?;
    let w2 = background_pid(&mut m, "run sub 'jobs.>' --queue workers &")?;
    for job in ["a", "b", "c", "d"] {
        m.check(
            &format!("emit jobs.{job} '{{\"job\":\"{job}\"}}'"),
            &[],
            STEP,
        )?;
        // A worker prints it (and the prompt is drawn again) before the next is typed.
        m.expect(&format!(" jobs.{job} {{\"job\":\"{job}\"}}"), STEP)?;
        m.expect_prompt(STEP)?;
    }
    std::thread::sleep(Duration::from_millis(300));
    let seen = m.transcript();
    for job in ["a", "b", "c", "d"] {
        let line = format!(" jobs.{job} {{\"job\":\"{job}\"}}");
        if seen.matches(&line).count() != 1 {
            return m.fail(format!(
                "jobs.{job} was not delivered to exactly one worker"
            ));
        }
    }
    stop_bus(&mut m, &w1)?;
    stop_bus(&mut m, &w2)?;
    // A durable subscriber that acknowledges resumes after what it acknowledged.
    let pid = background_pid(&mut m, "run sub 'orders.>' --durable audit &")?;
    let paid = m.check(r#"emit orders.paid '{"id":2}'"#, &[], STEP)?;
    m.expect("orders.paid {\"id\":2}", STEP)?;
    // Its acknowledgement moves the consumer's floor past the event, recorded in the journal.
    let paid: u64 = paid.trim().parse().unwrap_or(0);
    let past_paid = |listing: &str| {
        listing.lines().any(|l| {
            // `{"floor":N,"owner":"/bin/sub"}`: the number after `floor`.
            l.split("{\"floor\":")
                .nth(1)
                .and_then(|f| f.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|f| f.parse::<u64>().ok())
                .is_some_and(|floor| floor > paid)
        })
    };
    let floors = command_until(&mut m, "log '_consumer.audit' --limit 100", past_paid)?;
    if !past_paid(&floors) {
        return m.fail(format!(
            "the acknowledgement of {paid} was not recorded: {floors:?}"
        ));
    }
    stop_bus(&mut m, &pid)?;
    m.check(r#"emit orders.shipped '{"id":2}'"#, &[], STEP)?;
    // Durable: everything is there after a reboot.
    m.type_bytes(b"reboot\r")?;
    m.expect("rebooting", STEP)?;
    let again = m.expect("boot: kernel entry to prompt", BOOT)?;
    let again = again + &m.expect_prompt(STEP)?;
    if !again.contains("journal: ") || again.contains("journal: formatted") {
        return m.fail(format!("the journal did not come back: {again:?}"));
    }
    // The durable subscriber resumes where it acknowledged: the event emitted while it was
    // away, not the one it had.
    let pid = background_pid(&mut m, "run sub 'orders.>' --durable audit &")?;
    let resumed = m.expect("orders.shipped {\"id\":2}", STEP)?;
    if resumed.contains("orders.paid") {
        return m.fail(format!("an acknowledged event came again: {resumed:?}"));
    }
    stop_bus(&mut m, &pid)?;
    // A consumer nobody needs any more is deleted (its position recorded as gone), once.
    m.check(
        "consumer rm audit",
        &["deleted durable consumer audit\n"],
        STEP,
    )?;
    m.check("consumer rm audit", &["no durable consumer audit"], STEP)?;
    let deleted = |o: &str| o.contains("_consumer.audit {\"deleted\":true}");
    let log = command_until(&mut m, "log '_consumer.audit' --limit 100", deleted)?;
    if !deleted(&log) {
        return m.fail(format!("the deletion was not recorded: {log:?}"));
    }
    m.check(
        "log '>'",
        &[
            "1 shop.order.placed",
            "4 sensors.temp",
            "5 sensors.humidity",
        ],
        STEP,
    )?;
    m.check(
        &format!("emit shop.order.placed {transfer} idempotency_key=t-2"),
        &["2 (duplicate)\n"],
        STEP,
    )?;
    timers(&mut m)?;
    ledger_app(&mut m)?;
    if platform == Platform::Stm32f4 {
        // RAM standing in for flash survives a reset, not a new QEMU: the crash test is x86's.
        return shut_down(&mut m);
    }
    if platform == Platform::Web {
        return web_journal_kill(m, &name, &boot);
    }
    drop(m);
    crash_rounds(&name, &boot)
}

/// The browser's /data across a page reload and a killed browser, each right after a write
/// was acknowledged (the prompt came back): OPFS `flush()` is the durability point. Then a
/// page without OPFS (`?storage=ram`): it says so at boot, and works from RAM.
fn web_persistence(mut m: Machine, name: &str, boot: &Boot) -> StepResult {
    m.check("echo acknowledged >> /data/note.txt", &[], STEP)?;
    m.reload_page()?;
    let again = m.expect_prompt(BOOT)?;
    if !again.contains("vfs: mounted /data") || again.contains("vfs: formatted") {
        return m.fail(format!(
            "/data did not mount as it was after a reload: {again:?}"
        ));
    }
    m.check("cat /data/note.txt", &["first\nacknowledged\n"], STEP)?;
    m.check(
        "write /data/keep/last.txt written before the kill",
        &[],
        STEP,
    )?;
    m.kill_browser()?;
    let mut m = files_survived_the_kill(name, boot)?;
    shut_down(&mut m)?;
    let ram = boot.with_url_query("storage=ram")?;
    let (mut m, banner) = boot_to_prompt(name, &ram)?;
    for want in [
        "storage: the page asked for RAM (?storage=ram): /data and the journal are in RAM, not durable",
        "journal: in RAM, not durable",
        "vfs: no block device; /data is in RAM, not persistent",
    ] {
        if !banner.contains(want) {
            return m.fail(format!(
                "a page without OPFS did not say {want:?}: {banner:?}"
            ));
        }
    }
    m.check("echo in ram > /data/x.txt", &[], STEP)?;
    m.check("cat /data/x.txt", &["in ram\n"], STEP)?;
    m.check(
        r#"emit sensors.ram '{"c":1}'"#,
        &["(not durable: the journal is in RAM)"],
        STEP,
    )?;
    shut_down(&mut m)
}

/// The browser's journal across a killed browser right after an emit was acknowledged (its
/// sequence number printed), then across a page reload: nothing acknowledged is lost, the
/// ledger's view comes back with it.
fn web_journal_kill(mut m: Machine, name: &str, boot: &Boot) -> StepResult {
    let seq = m.command(r#"emit sensors.last '{"before":"kill"}'"#, STEP)?;
    let seq: u64 = seq
        .trim()
        .parse()
        .or_else(|_| m.fail(format!("emit printed {seq:?}")))?;
    let balances = m.command("cat view://ledger.balances", STEP)?;
    m.kill_browser()?;
    let (mut m, banner) = boot_to_prompt(name, boot)?;
    if banner.contains("journal: formatted") {
        return m.fail(format!("the journal was formatted again: {banner:?}"));
    }
    m.check(
        "log 'sensors.last'",
        &[&format!("{seq} sensors.last {{\"before\":\"kill\"}}")],
        STEP,
    )?;
    let after = m.command("cat view://ledger.balances", STEP)?;
    if after != balances {
        return m.fail(format!(
            "the ledger's view changed across the kill: {balances:?} then {after:?}"
        ));
    }
    let seq2 = m.command(r#"emit sensors.last '{"before":"reload"}'"#, STEP)?;
    m.reload_page()?;
    m.expect_prompt(BOOT)?;
    m.check(
        "log 'sensors.last'",
        &[
            &format!("{seq} sensors.last"),
            &format!("{} sensors.last {{\"before\":\"reload\"}}", seq2.trim()),
        ],
        STEP,
    )?;
    shut_down(&mut m)
}

/// Runs restricted by grants on the bus: a run's emit outside its grants is denied and logged;
/// a timer needs a grant, and the program a restricted run's timer starts is restricted the
/// same way (fileio's file denied and logged, not written).
fn restricted_bus(m: &mut Machine) -> StepResult {
    // A run restricted to some subjects: the others are denied, and the kernel logs it.
    m.check(
        r#"run --allow bus://publish/shop.> emit sensors.temp '{"c":1}'"#,
        &["emit: permission denied: bus://publish/sensors.temp is outside the run's grants"],
        STEP,
    )?;
    m.check(
        "dmesg",
        &["denied publish bus://publish/sensors.temp to pid"],
        STEP,
    )?;
    // A timer a restricted run sets starts its program as restricted: fileio's file is denied
    // (and logged), not written. Setting a timer at all needs a grant for it.
    m.check(
        "run --allow file:///data/app timer esc after 100ms run fileio",
        &["timer: permission denied: bus://timer/esc is outside the run's grants"],
        STEP,
    )?;
    m.check(
        "run --allow file:///data/app --allow bus://timer/esc timer esc after 100ms run fileio",
        &[],
        STEP,
    )?;
    let denied = |out: &str| out.contains("denied open file:///data/fileio.bin to pid");
    let log = command_until(m, "dmesg", denied)?;
    if !log.contains("(fileio): outside its grants (file:///data/app bus://timer/esc)") {
        return m.fail(format!(
            "the timer's program did not run with its setter's grants: {log:?}"
        ));
    }
    Ok(())
}

/// One run over its journal quota (`JournalLimits::run_events`/`run_bytes` per 10 s: 2048
/// events on x86_64, 2 KiB on the STM32F4) gets `NoSpace` and says why, while another run still
/// emits; `proc://bus` says what holds the journal.
fn journal_quota(m: &mut Machine, platform: Platform) -> StepResult {
    let burst = match platform {
        Platform::X86_64 | Platform::Web => 2100,
        Platform::Stm32f4 => 40,
    };
    m.check(
        &format!("emit --burst quota.flood {burst}"),
        &["emit: no space", "journal quota: "],
        Duration::from_secs(120),
    )?;
    let out = m.check(r#"emit quota.calm '{"ok":true}'"#, &["\n"], STEP)?;
    if out.contains("emit:") {
        return m.fail(format!("another run could not emit: {out:?}"));
    }
    m.check(
        "cat proc://bus",
        &["retention_floor: ", "holds from ", "view ledger.balances"],
        STEP,
    )?;
    Ok(())
}

/// Timers: an interval timer's `timer.<name>` events until it is turned off, a once timer that
/// starts a program, and refusals that say why.
fn timers(m: &mut Machine) -> StepResult {
    m.check("timer beat every 200ms", &[], STEP)?;
    std::thread::sleep(Duration::from_millis(1500));
    m.check("timer beat off", &[], STEP)?;
    let beats = m.command("log 'timer.beat' --limit 100", STEP)?;
    let count = beats
        .matches("timer.beat {\"timer\":\"beat\",\"count\":")
        .count();
    if count < 3 {
        return m.fail(format!(
            "an interval timer fired {count} times in 1.5 s: {beats:?}"
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = m.command("log 'timer.beat' --limit 100", STEP)?;
    if after.matches("timer.beat").count() != beats.matches("timer.beat").count() {
        return m.fail("a timer turned off kept firing");
    }
    m.check("timer hi after 100ms run hello", &[], STEP)?;
    m.expect("hello from ZeroBus OS", STEP)?;
    m.check(
        "log 'timer.hi'",
        &["timer.hi {\"timer\":\"hi\",\"count\":1"],
        STEP,
    )?;
    m.check(
        "timer x sometimes",
        &["timer: invalid argument: expected every, after, cron or off"],
        STEP,
    )?;
    m.check("timer x cron 61 * * * *", &["minute field \"61\""], STEP)?;
    m.check("timer nope off", &["no timer named"], STEP)?;
    // Cron follows the wall clock, also once it is set by hand (the STM32F4 has no real-time
    // clock: this is how it learns the date, and until then cron is refused): two seconds
    // before 10:00 on New Year's Day, a timer for 10:00 on the 1st of January fires once.
    if !m.command("date", STEP)?.ends_with(" UTC\n") {
        m.check(
            "timer newyear cron 0 10 1 1 *",
            &["no wall clock for cron: set the time with date -s"],
            STEP,
        )?;
    }
    m.check(
        "date -s 2030-01-01 09:59:58",
        &["2030-01-01 09:59:58 UTC\n"],
        STEP,
    )?;
    m.check("timer newyear cron 0 10 1 1 *", &[], STEP)?;
    let fired = |o: &str| o.contains("timer.newyear {\"timer\":\"newyear\",\"count\":1");
    let log = command_until(m, "log 'timer.newyear'", fired)?;
    if !fired(&log) {
        return m.fail(format!("the cron timer did not fire at 10:00: {log:?}"));
    }
    m.check("date", &["2030-01-01 10:00:"], STEP)?;
    m.check("timer newyear off", &[], STEP)?;
    m.check(
        "date -s 2030-02-30 10:00",
        &["is not a date and time (YYYY-MM-DD HH:MM[:SS], UTC)"],
        STEP,
    )?;
    Ok(())
}

/// The example ledger app (init starts its command handler when commands come; the view
/// `ledger.balances` is folded by `/bin/ledger-view`): deposits, a transfer, an overdraft
/// refused with its reason, `scan`, `seal`, and the balances again after a reboot from the
/// snapshot. On the STM32F4 too, where the handler and the view do not fit in the heap beside
/// much else: the handler ends when idle, and the view is paged out for other runs and in
/// again to answer.
fn ledger_app(m: &mut Machine) -> StepResult {
    m.check(
        r#"emit ledger.deposited '{"account":"alice","amount":10}'"#,
        &[],
        STEP,
    )?;
    m.check(
        r#"emit ledger.transfer.requested '{"from":"alice","to":"bob","amount":3}'"#,
        &[],
        STEP,
    )?;
    // The command handler decides it; the view folds the outcome.
    let paid_bob = |out: &str| out.contains(r#"{"account":"bob","balance":3}"#);
    let bob = command_until(m, "scan ledger.balances bob", paid_bob)?;
    if !bob.contains(r#"{"account":"bob","balance":3}"#) {
        return m.fail(format!("the transfer did not reach the balances: {bob:?}"));
    }
    handler_idle(m)?;
    m.check(
        "scan ledger.balances alice",
        &[r#"{"account":"alice","balance":7}"#],
        STEP,
    )?;
    // The handler's durable consumer is the ledger program's: another program (here `sub`,
    // while the handler is idle) cannot take it over, nor delete it.
    m.check(
        "sub nothing --durable ledger-cmd",
        &["durable consumer ledger-cmd belongs to another program"],
        STEP,
    )?;
    m.check(
        r#"emit ledger.transfer.requested '{"from":"bob","to":"carol","amount":50}'"#,
        &[],
        STEP,
    )?;
    let reason = |out: &str| out.contains("insufficient funds: bob has 3, needs 50");
    let rejected = command_until(m, "log 'ledger.transfer.rejected'", reason)?;
    handler_idle(m)?;
    if !rejected.contains("insufficient funds: bob has 3, needs 50") {
        return m.fail(format!(
            "the overdraft was not rejected with its reason: {rejected:?}"
        ));
    }
    m.check(
        "scan ledger.balances carol",
        &["scan: no such file or directory"],
        STEP,
    )?;
    m.check("scan no.such.view x", &["no view named"], STEP)?;
    // (On the STM32F4 a seal needs room for the snapshot's events beside the view: it is
    // refused, saying so, while the command handler still holds its memory.)
    let sealed = command_until(m, "seal ledger.balances", |o| o.contains("sealed"))?;
    if !sealed.contains("sealed ledger.balances at ") {
        return m.fail(format!("the view was not sealed: {sealed:?}"));
    }
    let height = sealed.trim().rsplit(' ').next().unwrap_or("").to_string();
    // The system's own records cannot be forged from the shell (or a run): a snapshot that
    // would wipe the balances at boot, a consumer position that would skip every command.
    for forged in [
        r#"emit _snapshot.ledger.balances '{"height":999999999,"part":0,"parts":1,"data":"00"}'"#,
        r#"emit _consumer.ledger-cmd '{"floor":18446744073709551615}'"#,
        r#"emit timer.beat '{}'"#,
    ] {
        m.check(forged, &["is reserved for the system"], STEP)?;
    }
    m.type_bytes(b"reboot\r")?;
    m.expect("rebooting", STEP)?;
    let again = m.expect("boot: kernel entry to prompt", BOOT)?;
    let again = again + &m.expect_prompt(STEP)?;
    let restored = format!("from its snapshot at {height}");
    if !again.contains("view ledger.balances: height") || !again.contains(&restored) {
        return m.fail(format!(
            "the view did not start from its snapshot ({restored}): {again:?}"
        ));
    }
    // The handler init starts at boot holds its memory until it ends (see handler_idle).
    m.settle()?;
    m.check(
        "scan ledger.balances alice",
        &[r#"{"account":"alice","balance":7}"#],
        STEP,
    )?;
    m.check(
        "scan ledger.balances bob",
        &[r#"{"account":"bob","balance":3}"#],
        STEP,
    )?;
    Ok(())
}

/// Waits until the ledger's command handler has ended (it does when idle). On the STM32F4
/// the handler and the view it asks fill most of the heap: a big run typed meanwhile may be
/// refused or ended for memory (saying so), which a person retries but a test would not.
fn handler_idle(m: &mut Machine) -> StepResult {
    let live = |out: &str| {
        out.lines()
            .any(|l| l.contains(" ledger ") && !l.contains(" DONE "))
    };
    let out = command_until(m, "ps", |o| !live(o))?;
    if live(&out) {
        // What it is stuck on, for the report.
        let bus = m.command("cat proc://bus", STEP)?;
        let log = m.command("dmesg", STEP)?;
        return m.fail(format!(
            "the ledger's handler did not end when idle: {out:?}\n{bus}\n{log}"
        ));
    }
    Ok(())
}

/// Runs `line` until its output satisfies `done` (at most 50 times, 100 ms apart: for what
/// happens in the background, such as a run reacting to an event); the last output.
fn command_until(m: &mut Machine, line: &str, done: impl Fn(&str) -> bool) -> StepResult<String> {
    let mut out = String::new();
    for _ in 0..50 {
        out = m.command(line, STEP)?;
        if done(&out) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(out)
}

/// Kills background run `pid` and waits for its end to be announced and the prompt to
/// be drawn again.
fn stop_bus(m: &mut Machine, pid: &str) -> StepResult {
    m.check(&format!("kill {pid}"), &[], STEP)?;
    m.expect(": rejected: killed", STEP)?;
    m.expect_prompt(STEP)?;
    Ok(())
}

/// Runs that do not fit beside a big one (the ledger): refused or ended, never a kernel
/// panic; they start again once it has ended.
fn memory_pressure(m: &mut Machine, long: Duration) -> StepResult {
    // `--stay`: a command handler that does not end when idle (init's does).
    let ledger = background_pid(m, "run ledger --stay &")?;
    for line in [
        "run emit a.b {}",
        "run emit a.b {}",
        "run sleeper 10",
        "run log '>'",
        "run pingpong",
    ] {
        let out = m.command(line, long)?;
        // Done, or refused with the reason: the command itself, or the child it starts
        // (pingpong reports its pong refused and ends).
        let refused = out.contains(": rejected: ") || out.contains("pong ended with rejected");
        if !out.contains(": ok(0)") && !refused {
            return m.fail(format!("{line:?} under memory pressure: {out:?}"));
        }
    }
    m.check(&format!("kill {ledger}"), &[], STEP)?;
    m.expect(": rejected: killed", STEP)?;
    m.expect_prompt(STEP)?;
    m.check("run hello", &["] hello: ok(0)"], STEP)?;
    Ok(())
}

/// Starts a background run with `line` (`run … &`) and returns its pid.
fn background_pid(m: &mut Machine, line: &str) -> StepResult<String> {
    let started = m.check(line, &["] "], STEP)?;
    Ok(started
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_default())
}

/// Kills QEMU at pseudo-random points during bursts of emits, several times in a row on the
/// same disks; after each, boots again and checks that every acknowledged event is there, in
/// order, and nothing else (no corrupt or half-written event).
fn crash_rounds(name: &str, boot: &Boot) -> StepResult {
    // Sequence numbers acknowledged so far, with the burst index each carried.
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() as u64);
    for round in 0..3u64 {
        let (mut m, banner) = boot_to_prompt(name, boot)?;
        if round > 0 && !banner.contains("journal: ") {
            return m.fail(format!("no journal line at boot: {banner:?}"));
        }
        // Everything acknowledged before the last kill is there, in order, and nothing else.
        let listing = m.command("log 'crash.>' --limit 5000", BOOT)?;
        let mut seen: Vec<(u64, u64)> = Vec::new();
        for line in listing.lines().filter(|l| !l.is_empty()) {
            let parsed = line.strip_suffix('}').and_then(|l| {
                let (seq, rest) = l.split_once(' ')?;
                let i = rest.strip_prefix("crash.t {\"i\":")?;
                Some((seq.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
            });
            match parsed {
                Some(e) => seen.push(e),
                None => return m.fail(format!("round {round}: a corrupt event line {line:?}")),
            }
        }
        // In order, each once (other events — the ledger app's, consumers' positions — may
        // fall between bursts, so the numbers need not be contiguous).
        for pair in seen.windows(2) {
            if pair[1].0 <= pair[0].0 {
                return m.fail(format!("round {round}: events out of order {pair:?}"));
            }
        }
        for a in &acked {
            if !seen.contains(a) {
                return m.fail(format!(
                    "round {round}: acknowledged event {a:?} is missing after the crash"
                ));
            }
        }
        // Unacknowledged events of the last burst may be there (whole) or not: they count now.
        acked = seen;
        // A burst, killed after a pseudo-random number of acknowledgements.
        let wait_for = 5 + (seed.wrapping_mul(round + 3) >> 3) % 40;
        m.type_bytes(b"run emit --burst crash.t 400\r")?;
        let mut got = 0;
        while got < wait_for {
            let line = m.expect(" i=", STEP)?;
            let seq = line
                .rsplit("acked ")
                .next()
                .and_then(|s| s.trim().parse::<u64>().ok());
            let i = m.expect("\r\n", STEP)?;
            if let (Some(seq), Ok(i)) = (seq, i.trim().parse::<u64>()) {
                acked.push((seq, i));
                got += 1;
            }
        }
        drop(m);
    }
    // Killed in the middle of a seal, at a pseudo-random point: the old snapshot and the events
    // after it, or the new snapshot, are there after the boot — the balances are the same.
    let alice_intact = |m: &mut Machine| {
        m.check(
            "scan ledger.balances alice",
            &[r#"{"account":"alice","balance":7}"#],
            STEP,
        )
    };
    for round in 0..3u64 {
        let (mut m, _) = boot_to_prompt(name, boot)?;
        alice_intact(&mut m)?;
        m.check(r#"emit crash.seal '{"round":1}'"#, &["\n"], STEP)?;
        m.type_bytes(b"seal ledger.balances\r")?;
        let delay = (seed.wrapping_mul(round + 11) >> 5) % 40;
        std::thread::sleep(Duration::from_millis(delay));
        drop(m);
    }
    let (mut m, _) = boot_to_prompt(name, boot)?;
    // The view comes back with the same balances (snapshot plus the events after it).
    alice_intact(&mut m)?;
    let listing = m.command("log 'crash.>' --limit 5000", BOOT)?;
    for (seq, i) in &acked {
        let want = format!("{seq} crash.t {{\"i\":{i}}}");
        if !listing.contains(&want) {
            return m.fail(format!(
                "acknowledged event {want:?} is missing after the last crash"
            ));
        }
    }
    shut_down(&mut m)
}

/// A TCP echo server on 127.0.0.1 (a free port), for the guest to reach through a guestfwd:
/// every byte it receives comes back after `echo: `, per read. Runs until the process ends.
fn echo_server() -> Result<u16, String> {
    use std::io::{Read, Write};
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("echo server: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut out = b"echo: ".to_vec();
                    out.extend_from_slice(&buf[..n]);
                    if stream.write_all(&out).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// How long a test waits for an HTTP answer from the guest.
const HTTP_WAIT: Duration = Duration::from_secs(60);

/// `GET path` on a connection of its own, closed after the answer.
pub(crate) fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    crate::http::Connection::open(port, HTTP_WAIT)?.get(path, true)
}

/// The network on x86_64 (issue: virtio-net and smoltcp): DHCP's address in `ifconfig`,
/// `ping`, `nc` to a host echo server through a guestfwd (nc is a wasm program on
/// `tcp://`), refused and unreachable hosts, and `nc -l` reached from the host through a
/// hostfwd, with `netstat` showing the sockets. (The guestfwd is on 10.0.2.100: QEMU does not
/// forward the gateway's own address, 10.0.2.2.)
fn net_session(t: &QemuTargets, platform: Platform) -> StepResult {
    let echo = echo_server()?;
    // The guest's status server is on 80; `nc -l` takes 8080.
    let (status_port, guest_port) = (crate::qemu::free_port()?, 8080);
    let host_port = crate::qemu::free_port()?;
    let udp_port = crate::qemu::free_udp_port()?;
    let tftp_dir =
        crate::artifacts::target_dir().join(format!("zerobus/tftp-test-{}", std::process::id()));
    std::fs::create_dir_all(&tftp_dir).map_err(|e| format!("{}: {e}", tftp_dir.display()))?;
    let net = crate::qemu::Network {
        hostfwd: vec![(status_port, 80), (host_port, guest_port)],
        hostfwd_udp: vec![(udp_port, 9001)],
        guestfwd: vec![(String::from("10.0.2.100:7000"), echo)],
        tftp: Some(tftp_dir.clone()),
        nats: None,
    };
    let boot = t.boot(platform).with_network(&net);
    let (mut m, banner) = boot_to_prompt(&format!("{}/net", platform.name()), &boot)?;
    if !banner.contains("net: virtio-net 52:54:00:12:34:56") {
        return m.fail(format!("no network card line at boot: {banner:?}"));
    }
    m.settle()?;
    // DHCP answers within a few hundred milliseconds (the fallback would say `static`).
    let out = command_until(&mut m, "ifconfig", |o| o.contains("(dhcp)"))?;
    for want in [
        "eth0: virtio-net mac 52:54:00:12:34:56 mtu 1500",
        "inet 10.0.2.15/24 gateway 10.0.2.2 (dhcp)",
        "rx packets ",
        "tx packets ",
    ] {
        if !out.contains(want) {
            return m.fail(format!("ifconfig lacks {want:?}: {out:?}"));
        }
    }
    m.check(
        "ping 10.0.2.2 2",
        &[
            "64 bytes from 10.0.2.2: icmp_seq=1 time=",
            "64 bytes from 10.0.2.2: icmp_seq=2 time=",
            "--- 10.0.2.2: 2 sent, 2 received",
        ],
        STEP,
    )?;
    m.check(
        "ping 10.0.2.99 1",
        &[
            "no reply from 10.0.2.99: icmp_seq=1 (timed out)",
            "1 sent, 0 received",
        ],
        STEP,
    )?;
    // nc (a wasm program on tcp://) to the host's echo server.
    m.type_bytes(b"nc 10.0.2.100 7000\r")?;
    m.expect("nc 10.0.2.100 7000\r\n", STEP)?;
    m.type_bytes(b"hello zerobus\r")?;
    m.expect("echo: hello zerobus", STEP)?;
    m.type_bytes(b"second line\r")?;
    m.expect("echo: second line", STEP)?;
    m.type_bytes(b"\x04")?;
    m.expect_prompt(STEP)?;
    // nc closed its side; the guestfwd never passes that on, so the socket waits for the
    // host's FIN, owned by nobody now (it is reset after a minute).
    let closing = m.command("netstat", STEP)?;
    if !closing
        .lines()
        .any(|l| l.contains("10.0.2.100:7000") && l.contains("FIN-WAIT-2") && l.ends_with(" -"))
    {
        return m.fail(format!(
            "netstat does not show the closing connection: {closing:?}"
        ));
    }
    m.check("nc 10.0.2.2 7001", &["nc: connection refused"], STEP)?;
    m.check("nc 10.0.2.99 80", &["nc: host unreachable"], STEP)?;
    m.check("nc 10.0.2.100", &["usage: nc"], STEP)?;
    m.check("ping 10.0.2.300", &["ping: invalid argument"], STEP)?;
    // A listener in the guest, reached from the host through the hostfwd.
    let pid = background_pid(&mut m, &format!("run nc -l {guest_port} &"))?;
    let listening = m.command("netstat", STEP)?;
    if !listening.contains(&format!("tcp    0.0.0.0:{guest_port}")) || !listening.contains("LISTEN")
    {
        return m.fail(format!("netstat does not show the listener: {listening:?}"));
    }
    // A port somebody listens on is taken: the run's, and the status server's.
    m.check(
        &format!("nc -l {guest_port}"),
        &["nc: address in use"],
        STEP,
    )?;
    m.check("nc -l 80", &["nc: address in use"], STEP)?;
    let mut client = std::net::TcpStream::connect(("127.0.0.1", host_port))
        .map_err(|e| format!("connect to the hostfwd: {e}"))?;
    {
        use std::io::Write;
        client
            .write_all(b"hello from the host\n")
            .map_err(|e| e.to_string())?;
    }
    m.expect("hello from the host", STEP)?;
    let connected = m.command("netstat", STEP)?;
    if !connected.contains("ESTABLISHED") {
        return m.fail(format!(
            "netstat does not show the connection: {connected:?}"
        ));
    }
    drop(client);
    m.expect(&format!("[{pid}] nc: ok(0)"), STEP)?;
    m.expect_prompt(STEP)?;
    let udp = udp_exchange(&mut m, udp_port, &tftp_dir);
    let _ = std::fs::remove_dir_all(&tftp_dir);
    udp?;
    http_status(&mut m, status_port)?;
    http_slow_clients(&mut m, status_port)?;
    shut_down(&mut m)
}

/// UDP both ways. QEMU's `restrict=on` drops every datagram a guest sends except to its own
/// DHCP and TFTP servers, so: host → guest is `nc -u -l 9001` in the guest (a wasm program on
/// `udp://0.0.0.0:9001?listen`) receiving from a host socket through the UDP hostfwd (`port`
/// → 9001); guest → host and back is `tftp` (a wasm program on `udp://10.0.2.2:69`) fetching
/// files from QEMU's TFTP server, which serves `tftp_dir`.
fn udp_exchange(m: &mut Machine, port: u16, tftp_dir: &std::path::Path) -> StepResult {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let host = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    m.type_bytes(b"nc -u -l 9001\r")?;
    m.expect("nc -u -l 9001\r\n", STEP)?;
    // The host cannot see when the guest's socket is bound (a datagram before is answered
    // with ICMP port unreachable and lost), so it sends one each second until it is printed.
    let printed = Arc::new(AtomicBool::new(false));
    let sender = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            for _ in 0..30 {
                if printed.load(Ordering::Relaxed) {
                    break;
                }
                let _ = host.send_to(b"ping over udp\n", ("127.0.0.1", port));
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let got = m.expect("ping over udp", STEP);
    printed.store(true, Ordering::Relaxed);
    let _ = sender.join();
    got?;
    m.type_bytes(b"\x04")?;
    m.expect_prompt(STEP)?;

    // Three blocks (512, 512 and a short one), then a file of exactly one block, which ends
    // with an empty block.
    let text: String = (1..=42)
        .map(|i| format!("line {i:03} of the file fetched over tftp\n"))
        .collect();
    let block: String = "0123456789abcdef".repeat(31) + "0123456789abcd\n";
    for (name, body) in [("three-blocks.txt", &text), ("one-block.txt", &block)] {
        std::fs::write(tftp_dir.join(name), body).map_err(|e| e.to_string())?;
    }
    let out = m.command("tftp 10.0.2.2 three-blocks.txt", STEP)?;
    if out != text {
        return m.fail(format!(
            "tftp printed {} bytes, not the file's {}: {out:?}",
            out.len(),
            text.len()
        ));
    }
    let out = m.command("tftp 10.0.2.2 one-block.txt", STEP)?;
    if out != block {
        return m.fail(format!("tftp printed {out:?}, not the 512-byte file"));
    }
    m.check("tftp 10.0.2.2 missing.txt", &["tftp: File not found"], STEP)?;
    m.check(
        "tftp 10.0.2.2 ../etc/passwd",
        &["tftp: Access violation"],
        STEP,
    )?;
    m.check("tftp 10.0.2.2", &["usage: tftp"], STEP)?;
    Ok(())
}

/// The HTTP status server, from the host through the hostfwd (`port` → 80): the three
/// pages, refusals, and 50 clients at once.
fn http_status(m: &mut Machine, port: u16) -> StepResult {
    m.check("emit status.check '{}'", &["\n"], STEP)?;
    let (status, varz) = http_get(port, "/varz")?;
    for want in [
        "\"uptime_ms\":",
        "\"runs\":{\"live\":",
        "\"memory\":{\"heap_used\":",
        "\"time\":",
        "\"bus\":{\"emitted\":1,",
        "\"net\":{\"rx_packets\":",
    ] {
        if status != 200 || !varz.contains(want) {
            return m.fail(format!("/varz: {status} without {want:?}: {varz:?}"));
        }
    }
    let (status, metrics) = http_get(port, "/metrics")?;
    if status != 200
        || !metrics.contains("# TYPE zerobus_uptime_seconds gauge\nzerobus_uptime_seconds ")
        || !metrics.contains("zerobus_bus_emitted_total 1\n")
        || !metrics.contains("# TYPE zerobus_time_seconds gauge\n")
    {
        return m.fail(format!("/metrics: {status} {metrics:?}"));
    }
    let (status, runs) = http_get(port, "/runs")?;
    if status != 200 || !runs.contains("\"name\":\"console\",\"kind\":\"service\"") {
        return m.fail(format!("/runs: {status} {runs:?}"));
    }
    // Refusals, each on its own connection; the server keeps serving.
    for (request, want) in [
        (&b"GARBAGE\r\n\r\n"[..], 400),
        (b"GET /varz HTTP/1.1\r\n\r\n", 400),
        (b"GET /varz HTTP/1.1\nHost: x\n\n", 400),
        (b"GET /varz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (
            b"POST /varz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            405,
        ),
        (
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
    ] {
        let (status, body) = crate::http::exchange(port, request, HTTP_WAIT)?;
        if status != want {
            return m.fail(format!(
                "{:?} was answered {status} (not {want}): {body:?}",
                String::from_utf8_lossy(request)
            ));
        }
    }
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(3000));
    let (status, _) = crate::http::exchange(port, long.as_bytes(), HTTP_WAIT)?;
    if status != 414 {
        return m.fail(format!("a 3 KB target was answered {status}, not 414"));
    }
    // 50 clients at once. QEMU's user network accepts forwarded connections with a listen
    // backlog of one, so 50 simultaneous connects would mostly wait out the host's SYN-ACK
    // backoff (1, 2, 4 … 32 s) in QEMU rather than exercise the guest. So the 50 connections
    // are opened one after another, each proving itself with a first request, and all held
    // open: then all 50 send their second request at the same moment.
    let mut held = Vec::new();
    for i in 0..50 {
        let mut c = crate::http::Connection::open(port, HTTP_WAIT)?;
        match c.get("/varz", false) {
            Ok((200, _)) => held.push(c),
            other => {
                return m.fail(format!(
                    "keep-alive client {i} of 50 (the others still open): {other:?}"
                ));
            }
        }
    }
    let start = std::sync::Arc::new(std::sync::Barrier::new(held.len()));
    let clients: Vec<_> = held
        .into_iter()
        .map(|mut c| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                c.get("/varz", true)
            })
        })
        .collect();
    let mut codes = Vec::new();
    for c in clients {
        codes.push(
            c.join()
                .map_err(|_| "a client thread panicked".to_string())?,
        );
    }
    let ok = codes.iter().filter(|r| matches!(r, Ok((200, _)))).count();
    if ok != 50 {
        let failed: Vec<_> = codes
            .iter()
            .filter(|r| !matches!(r, Ok((200, _))))
            .collect();
        return m.fail(format!(
            "{ok} of 50 parallel requests answered 200; the others: {failed:?}"
        ));
    }
    Ok(())
}

/// Slow clients cannot hold the status server (issue 15). 64 clients connect, then trickle a
/// request head a byte every 2 s: with them, every socket of the server's pool but its spare
/// is held. A normal request is still answered 200 at once (the stalest trickler is reset to
/// make room), and 5 s after its first byte (the head deadline, which the trickle does not put
/// off) each trickler is answered 408 and closed. Adds about 8 s to the suite.
fn http_slow_clients(m: &mut Machine, port: u16) -> StepResult {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, TcpStream};
    const TRICKLERS: usize = 64;
    const HEAD: &[u8] = b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n";
    struct Trickler {
        stream: TcpStream,
        sent: usize,
        got: Vec<u8>,
        /// When the server closed or reset the connection.
        dropped: Option<Instant>,
    }
    impl Trickler {
        /// Reads what came, without waiting; notes when the connection ends (and closes it,
        /// as a client does).
        fn poll(&mut self) {
            let mut buf = [0u8; 1024];
            while self.dropped.is_none() {
                match self.stream.read(&mut buf) {
                    Ok(n) if n > 0 => self.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Ok(_) | Err(_) => self.end(),
                }
            }
        }

        fn end(&mut self) {
            self.dropped = Some(Instant::now());
            let _ = self.stream.shutdown(Shutdown::Both);
        }

        /// The next byte of the head (nothing once dropped; a refused write is a drop).
        fn trickle(&mut self) {
            self.poll();
            if self.dropped.is_some() || self.sent == HEAD.len() {
                return;
            }
            match self.stream.write_all(&HEAD[self.sent..self.sent + 1]) {
                Ok(()) => self.sent += 1,
                Err(_) => self.end(),
            }
        }
    }
    // A figure of /varz's JSON (`"shed":1`).
    let figure = |varz: &str, key: &str| -> Option<u64> {
        let at = varz.find(&format!("\"{key}\":"))? + key.len() + 3;
        let digits: String = varz[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    // Connected first, silent (the idle limit is 10 s), so that all start their heads together.
    // QEMU accepts forwarded connections with a listen backlog of one: the host drops a SYN
    // when two wait for it, and the connect would wait out a 1 s retransmission. So they are
    // paced, and an attempt that does not complete at once is given up and made again.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    let mut tricklers = Vec::new();
    for i in 0..TRICKLERS {
        std::thread::sleep(Duration::from_millis(15));
        let stream = (0..20)
            .find_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .ok_or_else(|| format!("trickler {i}: cannot connect"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        tricklers.push(Trickler {
            stream,
            sent: 0,
            got: Vec::new(),
            dropped: None,
        });
    }
    if started.elapsed() > Duration::from_secs(5) {
        return m.fail(format!(
            "connecting {TRICKLERS} clients took {:?} (the idle limit is 10 s)",
            started.elapsed()
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let first = Instant::now();
    tricklers.iter_mut().for_each(Trickler::trickle);
    std::thread::sleep(Duration::from_millis(500));
    tricklers.iter_mut().for_each(Trickler::poll);
    let live = tricklers.iter().filter(|t| t.dropped.is_none()).count();
    if live != TRICKLERS {
        let ends: Vec<_> = tricklers
            .iter()
            .filter_map(|t| {
                let at = t.dropped?;
                let when = at
                    .checked_duration_since(first)
                    .map_or_else(|| format!("-{:?}", first - at), |d| format!("+{d:?}"));
                Some(format!("{when} {:?}", String::from_utf8_lossy(&t.got)))
            })
            .collect();
        let varz = http_get(port, "/varz").map(|(_, v)| v);
        return m.fail(format!(
            "{live} of {TRICKLERS} trickling clients still connected 0.5 s into their heads; the others ended at (after the first byte) {ends:?}; /varz: {varz:?}"
        ));
    }
    // The pool is held; a normal request is answered at once all the same.
    let asked = Instant::now();
    let answer = crate::http::Connection::open(port, Duration::from_secs(5))
        .and_then(|mut c| c.get("/varz", true));
    let took = asked.elapsed();
    match &answer {
        Ok((200, body)) if took < Duration::from_secs(3) && figure(body, "shed") >= Some(1) => {}
        _ => {
            return m.fail(format!(
                "with {TRICKLERS} trickling clients, /varz took {took:?}: {answer:?}"
            ));
        }
    }
    // A byte every 2 s, until every trickler is dropped (the deadline is 5 s).
    let mut next = first + Duration::from_secs(2);
    while tricklers.iter().any(|t| t.dropped.is_none()) {
        if first.elapsed() > Duration::from_secs(12) {
            let left = tricklers.iter().filter(|t| t.dropped.is_none()).count();
            return m.fail(format!(
                "{left} trickling clients still connected 12 s after their first byte"
            ));
        }
        if Instant::now() >= next {
            tricklers.iter_mut().for_each(Trickler::trickle);
            next += Duration::from_secs(2);
        }
        tricklers.iter_mut().for_each(Trickler::poll);
        std::thread::sleep(Duration::from_millis(50));
    }
    // One was reset early to make room; the others got their 408 at the deadline.
    let timed_out: Vec<&Trickler> = tricklers
        .iter()
        .filter(|t| t.got.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"))
        .collect();
    if timed_out.len() < TRICKLERS - 1 {
        let other: Vec<_> = tricklers
            .iter()
            .filter(|t| !t.got.starts_with(b"HTTP/1.1 408"))
            .map(|t| String::from_utf8_lossy(&t.got).into_owned())
            .collect();
        return m.fail(format!(
            "{} of {TRICKLERS} trickling clients were answered 408; the others got {other:?}",
            timed_out.len()
        ));
    }
    for t in &timed_out {
        let after = t.dropped.map(|d| d - first).unwrap_or_default();
        if after < Duration::from_millis(4500) || after > Duration::from_secs(8) {
            return m.fail(format!(
                "a trickling client was answered 408 {after:?} after its first byte (the deadline is 5 s)"
            ));
        }
    }
    let (status, varz) = http_get(port, "/varz")?;
    if status != 200 || figure(&varz, "timeouts") < Some(timed_out.len() as u64) {
        return m.fail(format!(
            "after the trickling clients, /varz: {status} {varz:?}"
        ));
    }
    Ok(())
}

/// How `isolation` runs on a platform: sysfuzz seeds and calls each, its scratch zone (KiB),
/// stdout budget (bytes) and, where the default quota is more than the platform's heap can
/// give beside the fuzzer's own code, the kernel memory quota its fuzzing runs get (`run
/// --kmem`); the kernel's output window per run (`RunLimits::output_bytes`); the channel
/// loop's rounds and message size; the pools the hoard holds (`pressure hoard <order>`); and how
/// far above its baseline `mem://heap` may be once a test's runs have ended, in bytes (what
/// still varies: the lengths of the shell's history lines and of the finished runs' statuses
/// `ps` keeps, and the journal's index of a growing disk).
struct Isolation {
    seeds: &'static [u64],
    calls: u32,
    scratch_kib: u32,
    stdout: u32,
    kmem: Option<&'static str>,
    window: u64,
    /// The most a run's recording takes (`ReplayLimits::tape_bytes`), charged to it too.
    tape: u64,
    rounds: u32,
    message: u32,
    hoard: &'static str,
    /// Whether the tests are spread over two boots (pools and floods; seeds), each with its
    /// own rehearsal: on the board the fuzzer (16 KB of wasm, about 50 KiB loaded and more
    /// while compiling) fits its 120 KiB heap under QEMU only while little else is held, and
    /// after three loads in a boot the free bytes are no longer in pieces that large (refused
    /// cleanly: `too fragmented`, `not enough kernel memory`, `out of kernel memory while
    /// compiling it`).
    split: bool,
    /// Whether a fuzzing run may end `rejected: out of kernel memory` (the board: its heap has
    /// little room beside the fuzzer for what the kernel allocates on its behalf beyond its
    /// quota); it must still end, and the heap come back.
    heap_may_run_out: bool,
    tolerance: u64,
}

impl Isolation {
    fn of(platform: Platform) -> Isolation {
        match platform {
            Platform::X86_64 | Platform::Web => Isolation {
                seeds: &[1, 2, 3],
                calls: 5000,
                scratch_kib: 80,
                stdout: 2048,
                kmem: None,
                window: 16 << 10,
                tape: 64 << 10,
                rounds: 1000,
                message: 60_000,
                // The browser has no network: no sockets to hoard.
                hoard: if platform == Platform::Web {
                    "psftc"
                } else {
                    "psftnc"
                },
                split: false,
                heap_may_run_out: false,
                tolerance: 16 << 10,
            },
            // The board: 120 KiB of kernel heap under QEMU (a board has 48 KiB more in its
            // CCM), of which the fuzzer's compiled code takes about 40 KiB and its memory
            // 11 KiB; a quota of 4 KiB keeps what the kernel holds for it within what is
            // left. No network: no sockets to hoard.
            Platform::Stm32f4 => Isolation {
                // With seed 0's rehearsal, three fuzzer runs in a boot: a fourth finds no
                // room to compile it (see `split`).
                seeds: &[1, 2],
                calls: 2000,
                scratch_kib: 4,
                stdout: 512,
                kmem: Some("4K"),
                window: 1 << 10,
                tape: 1 << 10,
                rounds: 200,
                message: 4000,
                hoard: "psftc",
                split: true,
                heap_may_run_out: true,
                tolerance: 6 << 10,
            },
        }
    }

    /// `run` and its options for a fuzzing run.
    fn run(&self) -> String {
        match self.kmem {
            Some(k) => format!("run --kmem {k}"),
            None => String::from("run"),
        }
    }
}

/// A size as `ps` prints it (`0 B`, `1.5 KiB`), in bytes.
fn bytes(text: &str) -> u64 {
    let (n, unit) = text.split_once(' ').unwrap_or((text, "B"));
    let scale = match unit {
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        _ => 1,
    };
    (n.parse::<f64>().unwrap_or(f64::MAX) * scale as f64) as u64
}

/// The kernel heap in use (`mem://heap`, what `mem` shows), in bytes.
fn heap_used(m: &mut Machine) -> StepResult<u64> {
    let out = m.command("cat mem://heap", STEP)?;
    let used = out
        .lines()
        .find_map(|l| l.strip_prefix("used: "))
        .and_then(|v| v.trim().parse().ok());
    match used {
        Some(v) => Ok(v),
        None => m.fail(format!("mem://heap has no used: line: {out:?}")),
    }
}

/// After `what`, `mem` answers and the heap comes back to `base` (within `tolerance`); polled
/// for a few seconds, since ended runs' timers and sockets take a moment to go.
fn heap_back(m: &mut Machine, base: u64, tolerance: u64, what: &str, name: &str) -> StepResult {
    m.check("mem", &["heap"], STEP)?;
    let mut used = 0;
    for _ in 0..40 {
        used = heap_used(m)?;
        if used <= base + tolerance {
            println!(
                "{name}: heap after {what}: {:+} bytes from the baseline",
                used as i64 - base as i64
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    m.fail(format!(
        "after {what} the heap stays at {used} bytes used, {} above its baseline {base} \
         (tolerance {tolerance})",
        used - base
    ))
}

/// Waits until what the last test's runs left is given back: the heap in use stops falling
/// (timers a killed run set go when they fire; a small board needs that room for the next
/// program). At most a few seconds.
fn heap_settled(m: &mut Machine) -> StepResult {
    let mut last = heap_used(m)?;
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(250));
        let used = heap_used(m)?;
        if used >= last {
            return Ok(());
        }
        last = used;
    }
    Ok(())
}

/// Issue 15's isolation checks, over one boot: the syscall fuzzer for a few seeds while the
/// shell answers; a stdout flood in the foreground (Ctrl-C) and in the background (`kill`);
/// the channel-end-in-its-own-channel loop; one run holding its full share of every pool while
/// `ps`, `sub`, `dmesg` and `ls` still work. After each, the heap is back at its baseline.
///
/// Everything runs twice: a rehearsal first, then the baseline is measured and the same again
/// with the heap checked after each test. What a long-lived system keeps once it has been used
/// is then in the baseline rather than taken for a leak: compiled programs and the ledger's
/// view (a PC keeps both), the kernel's event queue (as long as the most events one slice
/// made), tables that keep their largest size, the kernel log (filled by a run outside its URL
/// grants: one line per denial) and the shell's history (64 lines as long as the ones to come).
fn isolation(t: &QemuTargets, platform: Platform) -> StepResult {
    let cfg = Isolation::of(platform);
    let name = format!("{}/isolation", platform.name());
    if cfg.split {
        // Pools and floods in one boot, the fuzzer's seeds in another (see `Isolation::split`),
        // each rehearsed first as in the one boot below.
        for (part, pools, rehearsal, seeds) in [
            ("a", true, &[][..], &[][..]),
            ("b", false, &[0][..], cfg.seeds),
        ] {
            let boot = t
                .boot(platform)
                .with_fresh_disk(&format!("isolation-{part}"))?;
            let (mut m, _) = boot_to_prompt(&name, &boot)?;
            m.settle()?;
            isolation_round(&mut m, &cfg, pools, rehearsal, None)?;
            let base = isolation_warm_up(&mut m, &cfg, &name, false)?;
            isolation_round(&mut m, &cfg, pools, seeds, Some((base, &name)))?;
            shut_down(&mut m)?;
        }
        return Ok(());
    }
    let boot = t.boot(platform).with_fresh_disk("isolation")?;
    let (mut m, _) = boot_to_prompt(&name, &boot)?;
    m.settle()?;
    isolation_round(&mut m, &cfg, true, &[0], None)?;
    let base = isolation_warm_up(&mut m, &cfg, &name, true)?;
    isolation_round(&mut m, &cfg, true, cfg.seeds, Some((base, &name)))?;
    shut_down(&mut m)
}

/// Fills what a long-lived system keeps once used — the kernel log (`denials`: a run outside
/// its URL grants, one line per denial) and the shell's history (64 lines as long as the ones
/// to come) — and returns the heap baseline measured then.
fn isolation_warm_up(
    m: &mut Machine,
    cfg: &Isolation,
    name: &str,
    denials: bool,
) -> StepResult<u64> {
    if denials {
        let denied = format!(
            "{} --allow file:///nothing sysfuzz 0 {} {} {}",
            cfg.run(),
            cfg.calls,
            cfg.scratch_kib,
            cfg.stdout
        );
        m.check(&denied, &["] sysfuzz: ok(0)"], Duration::from_secs(180))?;
    }
    // The table of finished runs at its size (`KEEP_DONE` = 16), as the tests will leave it.
    for _ in 0..16 {
        m.check("run hello", &["] hello: ok(0)"], STEP)?;
    }
    for i in 0..64 {
        m.check(
            &format!("echo history line {i:02}"),
            &["history line"],
            STEP,
        )?;
    }
    heap_settled(m)?;
    let base = heap_used(m)?;
    println!("{name}: heap baseline {base} bytes");
    Ok(base)
}

/// One round of the isolation checks; `heap`: the baseline to check after each (and the
/// suite's name), or `None` for the rehearsal.
fn isolation_round(
    m: &mut Machine,
    cfg: &Isolation,
    pools: bool,
    seeds: &[u64],
    heap: Option<(u64, &str)>,
) -> StepResult {
    let long = Duration::from_secs(180);
    let back = |m: &mut Machine, what: &str| match heap {
        Some((base, name)) => heap_back(m, base, cfg.tolerance, what, name),
        None => heap_settled(m),
    };

    if pools {
        isolation_pools(m, cfg, &back)?;
    }

    // The syscall fuzzer, a few seeds, in the background: the shell answers meanwhile.
    for &seed in seeds {
        let line = format!(
            "{} sysfuzz {seed} {} {} {} &",
            cfg.run(),
            cfg.calls,
            cfg.scratch_kib,
            cfg.stdout
        );
        let out = m.command(&line, STEP)?;
        let pid = job_pid(m, &out, "sysfuzz")?;
        let ps = m.command("ps", STEP)?;
        if !ps.contains(" sysfuzz ") {
            return m.fail(format!("ps does not list sysfuzz: {ps:?}"));
        }
        m.check("echo the shell answers", &["the shell answers\n"], STEP)?;
        let ended = m.check(
            &format!("wait {pid}"),
            &[&format!("[{pid}] sysfuzz: ")],
            long,
        )?;
        if cfg.heap_may_run_out
            && ended.contains(&format!("[{pid}] sysfuzz: rejected: out of kernel memory"))
        {
            // The heap ran out under it (what the kernel had to allocate for it beyond its
            // quota: compiled children, its recording): the kernel ended it, and the checks
            // that matter stand — the shell answered, and the heap comes back.
            println!(
                "sysfuzz seed {seed}: ended `rejected: out of kernel memory` (the heap ran out)"
            );
            back(m, &format!("sysfuzz seed {seed}"))?;
            continue;
        }
        if !ended.contains(&format!("[{pid}] sysfuzz: ok(0)")) {
            return m.fail(format!("sysfuzz seed {seed} did not end ok(0): {ended:?}"));
        }
        let transcript = m.transcript();
        let summary = transcript
            .lines()
            .rfind(|l| l.contains(&format!("sysfuzz: seed {seed}: ")))
            .unwrap_or_default()
            .to_string();
        if !summary.contains(" 0 violations") {
            return m.fail(format!("sysfuzz seed {seed}: {summary:?}"));
        }
        back(m, &format!("sysfuzz seed {seed}"))?;
    }
    Ok(())
}

/// The pools and floods of a round: a hoard of every pool while the shell works, a stdout flood
/// in the foreground and in the background, the channel loop; `back` after each.
fn isolation_pools(
    m: &mut Machine,
    cfg: &Isolation,
    back: &dyn Fn(&mut Machine, &str) -> StepResult,
) -> StepResult {
    let long = Duration::from_secs(180);
    // One run holding its full share of every pool: the shell still works.
    let out = m.command(
        &format!("run pressure hoard {} {} &", cfg.hoard, cfg.scratch_kib),
        STEP,
    )?;
    let hoard = job_pid(m, &out, "pressure")?;
    let held = m.expect(" sleeping", long)?;
    let held = held
        .rsplit("pressure: hoard:")
        .next()
        .unwrap_or_default()
        .to_string();
    println!("the hoard holds (pool=held/error that stopped it){held}");
    m.expect_prompt(STEP)?;
    m.check("ps", &[" pressure ", " console "], STEP)?;
    // The log's latest lines, whichever they are (a small log may hold only denials by now).
    let log = m.command("dmesg", STEP)?;
    if !log.lines().any(|l| l.starts_with('[') && l.contains("] ")) {
        return m.fail(format!("dmesg shows no log line beside the hoard: {log:?}"));
    }
    m.check("ls /", &["bin/\n", "etc/\n"], STEP)?;
    foreground_sub(m, Some(&held))?;
    stop_bus(m, &hoard.to_string())?;
    back(m, "the hoard")?;

    // A stdout flood in the foreground: Ctrl-C ends it.
    m.type_bytes(b"run pressure flood\r")?;
    m.expect("run pressure flood\r\n", STEP)?;
    m.expect("pressure: ~~~~~~~~", STEP)?;
    std::thread::sleep(Duration::from_millis(500));
    m.type_bytes(b"\x03")?;
    m.expect("] pressure: rejected: killed", STEP)?;
    m.expect_prompt(STEP)?;
    m.check("echo after the flood", &["after the flood\n"], STEP)?;
    back(m, "a foreground flood")?;

    // In the background: the shell answers, the kernel holds at most the run's output window
    // for it (KMEM), and `kill` ends it. (`ps` shows it ready or running rather than in WAIT
    // output: the console takes each write as it comes and writes it out at once.)
    let out = m.command("run pressure flood &", STEP)?;
    let flood = job_pid(m, &out, "pressure")?;
    // What its load took (instance, and code compiled for it) is in its KMEM too, beside its
    // allowance.
    let status = m.command(&format!("cat proc://{flood}/status"), STEP)?;
    let loaded = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("kmem_loaded: "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    let Some(loaded) = loaded else {
        return m.fail(format!("no kmem_loaded in the flood's status: {status:?}"));
    };
    for _ in 0..3 {
        let ps = m.command("ps", STEP)?;
        let row = ps_row(m, &ps, flood)?;
        let kmem = ps
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&flood.to_string()))
            .map(|l| {
                l.split_whitespace()
                    .skip(6)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        // Its KMEM: its load, the output waiting for the console, and its recording until
        // that outgrows its limit (then it is dropped).
        let most = loaded + cfg.window + cfg.tape;
        if !matches!(row.state.as_str(), "WAIT" | "EXEC") || bytes(&kmem) > most {
            return m.fail(format!(
                "a background flood is not live within its load, output window and recording \
                 ({loaded} + {} + {} bytes): {ps:?}",
                cfg.window, cfg.tape
            ));
        }
        m.check("echo during the flood", &["during the flood\n"], STEP)?;
    }
    stop_bus(m, &flood.to_string())?;
    back(m, "a background flood")?;

    // A channel end sent through its own channel, again and again: refused every time.
    let rounds = cfg.rounds;
    m.check(
        &format!("run pressure chanloop {rounds} {}", cfg.message),
        &[
            &format!("pressure: chanloop: {rounds} rounds, {rounds} sends refused"),
            "] pressure: ok(0)",
        ],
        long,
    )?;
    back(m, "the channel loop")?;
    Ok(())
}

/// `sub 'sf.>'` in the foreground subscribes and waits (Ctrl-C stops it) rather than failing;
/// `beside`: what another run holds meanwhile, for the failure message.
fn foreground_sub(m: &mut Machine, beside: Option<&str>) -> StepResult {
    m.type_bytes(b"sub 'sf.>'\r")?;
    m.expect("sub 'sf.>'\r\n", STEP)?;
    std::thread::sleep(Duration::from_millis(700));
    m.type_bytes(b"\x03")?;
    let out = m.expect_prompt(STEP)?;
    // It was still waiting for events when Ctrl-C ended it.
    if !out.contains("] sub: rejected: killed") || out.matches("sub: ").count() > 1 {
        let beside = beside.map_or(String::new(), |h| format!(" while a run holds{h}"));
        return m.fail(format!("`sub` did not subscribe{beside}: {out:?}"));
    }
    Ok(())
}

/// The test-hook panic prints the message and location and stops QEMU with failure.
fn kernel_panic(t: &QemuTargets, platform: Platform) -> StepResult {
    let boot = t.boot(platform).with_fresh_disk("panic")?;
    let (mut m, _) = boot_to_prompt(&format!("{}/panic", platform.name()), &boot)?;
    m.type_bytes(b"panic\r")?;
    m.expect(
        "KERNEL PANIC: deliberate kernel panic requested by the test hook",
        STEP,
    )?;
    m.expect("at kernel/src/host.rs:", STEP)?;
    match m.wait_exit(STEP)? {
        Outcome::Failure(_) => Ok(()),
        other => m.fail(format!(
            "a kernel panic ended QEMU with {other}, expected failure"
        )),
    }
}

/// The UEFI image boots (OVMF) to the same shell.
fn uefi_boot(t: &QemuTargets, _: Platform) -> StepResult {
    let boot = Boot::x86_64(t.uefi.clone(), true).with_fresh_disk("uefi")?;
    let (mut m, banner) = boot_to_prompt("x86_64/uefi", &boot)?;
    // OVMF puts the disk's 64-bit BAR above 4 GiB: the kernel must still find it.
    if !banner.contains("disk: virtio-blk, 16.0 MiB") {
        return m.fail(format!("the UEFI boot found no disk: {banner:?}"));
    }
    m.check(
        "version",
        &["ZeroBus OS 0.1.0 (x86_64, release build)"],
        STEP,
    )?;
    m.check("echo uefi ok", &["uefi ok\n"], STEP)?;
    m.type_bytes(b"shutdown\r")?;
    match m.wait_exit(STEP)? {
        Outcome::Success => Ok(()),
        other => Err(format!("x86_64/uefi: shutdown ended QEMU with {other}")),
    }
}

/// The firmware for a real board builds, and its .bin starts with a sane vector table.
fn flashable_firmware(_: &QemuTargets, _: Platform) -> StepResult {
    let fw = artifacts::build_firmware(&BuildOpts {
        release: true,
        test_hooks: false,
        qemu: false,
    })?;
    let bin = std::fs::read(&fw.bin).map_err(|e| format!("{}: {e}", fw.bin.display()))?;
    if bin.len() < 1024 || bin.len() > 1024 * 1024 {
        return Err(format!(
            "firmware .bin is {} bytes; expected 1 KiB..1 MiB (the F405's flash)",
            bin.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([bin[i], bin[i + 1], bin[i + 2], bin[i + 3]]);
    let (sp, reset) = (word(0), word(4));
    if !(0x2000_0000..=0x2002_0000).contains(&sp) {
        return Err(format!(
            "initial stack pointer {sp:#x} is not in the F405's 128 KiB SRAM"
        ));
    }
    if !(0x0800_0000..0x0810_0000).contains(&reset) || reset & 1 == 0 {
        return Err(format!(
            "reset vector {reset:#x} is not a Thumb address in flash"
        ));
    }
    Ok(())
}
