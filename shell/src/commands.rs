//! The command table: every shell command, its usage line and what it does.
//!
//! Commands are plain functions over a [`Ctx`]; they write their answer to `ctx.out` and report
//! failure as a message (the shell prefixes the command name). Adding a command is adding one
//! entry to [`COMMANDS`]. A command that starts waiting for a run (`run`, `wait`) makes it the
//! foreground job in `ctx.jobs` and returns at once; the shell then holds the prompt back until
//! the job ends (see [`crate::jobs`]). `time` runs another command from the table and times
//! it, handing its [`Timing`] to the foreground job if the command started one.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use zb_abi::{Error, Files, OS_NAME, Pid, PowerAction, RunKind, SpawnOptions};

use zb_abi::fmt::{Bytes, Millis, Uptime};

use crate::ctx::{CmdResult, Ctx};
use crate::files::{self, list_dir, read_all};
use crate::jobs::{self, Job, Mode, Timing};
use crate::term::{CLEAR_SCREEN, Printable};

pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
    /// Hidden commands work but are not listed by `help` (test hooks).
    pub hidden: bool,
    pub run: fn(&mut Ctx<'_>, &[String]) -> CmdResult,
}

pub static COMMANDS: &[Command] = &[
    Command {
        name: "help",
        args: "[command]",
        summary: "list commands, or show one command's usage",
        hidden: false,
        run: help,
    },
    Command {
        name: "echo",
        args: "[word ...]",
        summary: "print the words, separated by spaces",
        hidden: false,
        run: echo,
    },
    Command {
        name: "uptime",
        args: "",
        summary: "time since the kernel started",
        hidden: false,
        run: uptime,
    },
    Command {
        name: "date",
        args: "[-s YYYY-MM-DD HH:MM[:SS]]",
        summary: "the date and time (UTC); -s sets it",
        hidden: false,
        run: date,
    },
    Command {
        name: "mem",
        args: "",
        summary: "heap and physical memory usage",
        hidden: false,
        run: mem,
    },
    Command {
        name: "version",
        args: "",
        summary: "OS version, platform and build profile",
        hidden: false,
        run: version,
    },
    Command {
        name: "clear",
        args: "",
        summary: "clear the screen",
        hidden: false,
        run: clear,
    },
    Command {
        name: "shutdown",
        args: "",
        summary: "stop the machine",
        hidden: false,
        run: shutdown,
    },
    Command {
        name: "reboot",
        args: "",
        summary: "reset the machine",
        hidden: false,
        run: reboot,
    },
    Command {
        name: "run",
        args: "[--allow URL]... [--kmem SIZE] <prog> [arg ...] [&]",
        summary: "start /bin/<prog> and wait (&: don't; --allow: URLs; --kmem: quota)",
        hidden: false,
        run: run_program,
    },
    Command {
        name: "emit",
        args: "<subject> <json> [key=value ...]",
        summary: "append an event; prints its number once durable",
        hidden: false,
        run: emit,
    },
    Command {
        name: "sub",
        args: "<pattern> [--queue|--durable NAME] ...",
        summary: "show events as they come (Ctrl-C stops)",
        hidden: false,
        run: sub,
    },
    Command {
        name: "log",
        args: "<pattern> [--from N] [--limit N]",
        summary: "list events in the journal (20 by default)",
        hidden: false,
        run: log,
    },
    Command {
        name: "req",
        args: "<subject> <json> [--timeout 500ms]",
        summary: "request over the bus; prints the reply",
        hidden: false,
        run: req,
    },
    Command {
        name: "dlq",
        args: "[consumer] [--limit N]",
        summary: "list events durable subscribers gave up on",
        hidden: false,
        run: dlq,
    },
    Command {
        name: "scan",
        args: "<view> <key>",
        summary: "ask a view about a key",
        hidden: false,
        run: scan,
    },
    Command {
        name: "seal",
        args: "<view>",
        summary: "snapshot a view at its height",
        hidden: false,
        run: seal,
    },
    Command {
        name: "consumer",
        args: "rm <name>",
        summary: "delete a durable consumer",
        hidden: false,
        run: consumer,
    },
    Command {
        name: "timer",
        args: "<name> every|after <dur> | cron ... | off",
        summary: "timer.<name> events on a schedule",
        hidden: false,
        run: timer,
    },
    Command {
        name: "ps",
        args: "",
        summary: "list runs and services",
        hidden: false,
        run: ps,
    },
    Command {
        name: "kill",
        args: "<pid>",
        summary: "stop a run (it ends with rejected: killed)",
        hidden: false,
        run: kill,
    },
    Command {
        name: "wait",
        args: "<pid>",
        summary: "wait for a run to end and show its status",
        hidden: false,
        run: wait,
    },
    Command {
        name: "replay",
        args: "<pid>",
        summary: "re-execute a finished run from its recorded inputs",
        hidden: false,
        run: replay,
    },
    Command {
        name: "time",
        args: "<command> [arg ...]",
        summary: "run a command, then show its time in ms and cycles",
        hidden: false,
        run: time,
    },
    Command {
        name: "pwd",
        args: "",
        summary: "print the working directory",
        hidden: false,
        run: files::pwd,
    },
    Command {
        name: "cd",
        args: "[dir]",
        summary: "change the working directory (default /)",
        hidden: false,
        run: files::cd,
    },
    Command {
        name: "ls",
        args: "[-l] [path ...]",
        summary: "list a directory (-l: with type and size)",
        hidden: false,
        run: files::ls,
    },
    Command {
        name: "cat",
        args: "<file> ...",
        summary: "print files (paths or URLs: proc://self/status)",
        hidden: false,
        run: files::cat,
    },
    Command {
        name: "write",
        args: "<file> [word ...]",
        summary: "replace a file with the words and a newline",
        hidden: false,
        run: files::write,
    },
    Command {
        name: "mkdir",
        args: "<dir> ...",
        summary: "create directories",
        hidden: false,
        run: files::mkdir,
    },
    Command {
        name: "rm",
        args: "<file> ...",
        summary: "remove files",
        hidden: false,
        run: files::rm,
    },
    Command {
        name: "rmdir",
        args: "<dir> ...",
        summary: "remove empty directories",
        hidden: false,
        run: files::rmdir,
    },
    Command {
        name: "mv",
        args: "<from> <to>",
        summary: "rename or move a file",
        hidden: false,
        run: files::mv,
    },
    Command {
        name: "cp",
        args: "<from> <to>",
        summary: "copy a file",
        hidden: false,
        run: files::cp,
    },
    Command {
        name: "stat",
        args: "<path>",
        summary: "type, size and mode of a file or directory",
        hidden: false,
        run: files::stat,
    },
    Command {
        name: "df",
        args: "",
        summary: "size and free space of each file system",
        hidden: false,
        run: files::df,
    },
    Command {
        name: "mount",
        args: "",
        summary: "list the mounted file systems",
        hidden: false,
        run: files::mount,
    },
    Command {
        name: "ifconfig",
        args: "",
        summary: "the network interface: address, gateway, counters",
        hidden: false,
        run: ifconfig,
    },
    Command {
        name: "netstat",
        args: "",
        summary: "open TCP, UDP and ICMP sockets and their states",
        hidden: false,
        run: netstat,
    },
    Command {
        name: "ping",
        args: "<ipv4> [count]",
        summary: "send ICMP echo requests and show the replies",
        hidden: false,
        run: ping,
    },
    Command {
        name: "nc",
        args: "[-u] <ipv4> <port> | [-u] -l <port>",
        summary: "TCP (UDP with -u): send typed lines, print what comes back",
        hidden: false,
        run: nc,
    },
    Command {
        name: "tftp",
        args: "<ipv4> <file>",
        summary: "fetch a file from a TFTP server (UDP) and print it",
        hidden: false,
        run: tftp,
    },
    Command {
        name: "nodes",
        args: "",
        summary: "federation: nodes heard from, their status and age",
        hidden: false,
        run: nodes,
    },
    Command {
        name: "caps",
        args: "",
        summary: "federation: capabilities and the nodes offering them",
        hidden: false,
        run: caps,
    },
    Command {
        name: "resolve",
        args: "<capability> [prefer]",
        summary: "federation: the node chosen for a capability, and why",
        hidden: false,
        run: resolve,
    },
    Command {
        name: "link",
        args: "",
        summary: "federation: the NATS link's state and counters",
        hidden: false,
        run: link,
    },
    Command {
        name: "dmesg",
        args: "",
        summary: "the system log (proc://log)",
        hidden: false,
        run: dmesg,
    },
    Command {
        name: "kinds",
        args: "",
        summary: "registered drivers, services, schemes and KindIds",
        hidden: false,
        run: kinds,
    },
    Command {
        name: "panic",
        args: "",
        summary: "test builds only: panic the kernel on purpose",
        hidden: true,
        run: panic,
    },
];

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn no_args(args: &[String]) -> CmdResult {
    match args.first() {
        None => Ok(()),
        Some(a) => Err(format!("unexpected argument: {}", Printable(a))),
    }
}

/// `usage: <name> <args>`, from the table.
fn usage(name: &str) -> String {
    match find(name) {
        Some(cmd) => format!("usage: {} {}", cmd.name, cmd.args),
        None => String::from("usage error"),
    }
}

/// The one argument of `cmd`, a pid.
fn parse_pid(cmd: &str, args: &[String]) -> Result<Pid, String> {
    match args {
        [arg] => arg
            .parse()
            .map_err(|_| format!("not a pid: {} ({})", Printable(arg), usage(cmd))),
        _ => Err(usage(cmd)),
    }
}

fn help(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if let Some(name) = args.first() {
        let cmd = find(name).ok_or_else(|| format!("no such command: {}", Printable(name)))?;
        let _ = writeln!(
            ctx.out,
            "usage: {} {}\n  {}",
            cmd.name, cmd.args, cmd.summary
        );
        return Ok(());
    }
    let _ = writeln!(ctx.out, "commands:");
    let visible = || COMMANDS.iter().filter(|c| !c.hidden);
    // Usage column: wide enough for most; a longer usage puts its summary on the next line.
    const WIDTH: usize = 26;
    for cmd in visible() {
        let usage = format!("{} {}", cmd.name, cmd.args);
        if usage.len() < WIDTH {
            let _ = writeln!(ctx.out, "  {usage:<WIDTH$}{}", cmd.summary);
        } else {
            let _ = writeln!(ctx.out, "  {usage}\n      {}", cmd.summary);
        }
    }
    let _ = writeln!(
        ctx.out,
        "editing: Left/Right move, Up/Down history, Ctrl-A/E start/end, Ctrl-U/K/W erase,\n         Ctrl-C cancel (or stop the foreground run), Ctrl-L clear screen"
    );
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let _ = writeln!(ctx.out, "{}", args.join(" "));
    Ok(())
}

fn uptime(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let us = ctx.host.clock_us();
    let _ = writeln!(
        ctx.out,
        "up {} ({}.{:03} s)",
        Uptime(us),
        us / 1_000_000,
        us / 1000 % 1000
    );
    Ok(())
}

/// `date`: the wall clock in UTC; `date -s YYYY-MM-DD HH:MM[:SS]` sets it (cron timers
/// follow). A board without a real-time clock has none until it is set.
fn date(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if let Some(("-s", when)) = args.split_first().map(|(f, rest)| (f.as_str(), rest)) {
        let text = when.join(" ");
        let secs = zb_abi::time::parse_utc(&text).ok_or_else(|| {
            format!("date: {text:?} is not a date and time (YYYY-MM-DD HH:MM[:SS], UTC)")
        })?;
        ctx.host
            .set_wall_clock(secs)
            .map_err(|e| format!("date: cannot set the clock: {e}"))?;
    } else if !args.is_empty() {
        return Err(usage("date"));
    }
    let now = ctx
        .host
        .wall_clock()
        .ok_or("date: no real-time clock; set the time with date -s YYYY-MM-DD HH:MM:SS")?;
    let _ = writeln!(ctx.out, "{} UTC", zb_abi::time::Utc(now));
    Ok(())
}

/// `key: value` numbers from a `mem://` file.
fn mem_fields(host: &mut dyn Files, url: &str, keys: &[&str]) -> Option<Vec<u64>> {
    let text = read_all(host, url).ok()?;
    let text = String::from_utf8_lossy(&text);
    keys.iter()
        .map(|k| zb_abi::runs::field(&text, k)?.parse().ok())
        .collect()
}

/// `mem`: memory use, read from `mem://`.
fn mem(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let heap = mem_fields(ctx.host, "mem://heap", &["used", "free", "total"])
        .ok_or_else(|| String::from("mem://heap: not available"))?;
    let _ = writeln!(
        ctx.out,
        "{:<8}{:>12}{:>12}{:>12}",
        "", "used", "free", "total"
    );
    let _ = writeln!(
        ctx.out,
        "{:<8}{:>12}{:>12}{:>12}",
        "heap",
        Bytes(heap[0]),
        Bytes(heap[1]),
        Bytes(heap[2])
    );
    match mem_fields(ctx.host, "mem://frames", &["used", "total", "frame_size"]) {
        Some(fr) => {
            let _ = writeln!(
                ctx.out,
                "{:<8}{:>12}{:>12}{:>12}  ({} frames)",
                "frames",
                fr[0],
                fr[1].saturating_sub(fr[0]),
                fr[1],
                Bytes(fr[2])
            );
        }
        None => {
            let _ = writeln!(
                ctx.out,
                "{:<8}{:>12}",
                "frames", "n/a (no paging on this platform)"
            );
        }
    }
    let ram = mem_fields(ctx.host, "mem://ram", &["total"]).map_or(0, |r| r[0]);
    let _ = writeln!(ctx.out, "{:<8}{:>36}", "ram", Bytes(ram));
    Ok(())
}

fn version(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let s = ctx.host.sysinfo();
    let _ = writeln!(
        ctx.out,
        "{OS_NAME} {} ({}, {} build)",
        s.version, s.platform, s.profile
    );
    let _ = writeln!(ctx.out, "machine: {}", s.machine);
    let _ = writeln!(
        ctx.out,
        "boot: kernel entry to prompt {}",
        Millis(s.boot_us)
    );
    Ok(())
}

fn clear(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    ctx.out.push_str(CLEAR_SCREEN);
    Ok(())
}

fn power(ctx: &mut Ctx<'_>, args: &[String], action: PowerAction, what: &str) -> CmdResult {
    no_args(args)?;
    let _ = writeln!(ctx.out, "{what}");
    ctx.flush();
    let err = ctx.host.power(action);
    Err(format!("{err}"))
}

fn shutdown(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    power(ctx, args, PowerAction::Shutdown, "shutting down")
}

fn reboot(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    power(ctx, args, PowerAction::Reboot, "rebooting")
}

fn panic(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    power(
        ctx,
        args,
        PowerAction::TestPanic,
        "panicking the kernel on purpose",
    )
}

fn run_program(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (background, words) = match args.split_last() {
        Some((last, rest)) if last == "&" => (true, rest),
        _ => (false, args),
    };
    let mut allow: Vec<&str> = Vec::new();
    let mut kmem = None;
    let mut words = words;
    while let [flag, value, rest @ ..] = words
        && (flag == "--allow" || flag == "--kmem")
    {
        if flag == "--allow" {
            allow.push(value);
        } else {
            let size = zb_abi::fmt::parse_size(value)
                .ok()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| {
                    format!("bad kernel-memory size {} (e.g. 64K, 2M)", Printable(value))
                })?;
            kmem = Some(size);
        }
        words = rest;
    }
    if matches!(
        words.first().map(String::as_str),
        Some("--allow" | "--kmem")
    ) {
        return Err(usage("run"));
    }
    let Some((name, rest)) = words.split_first() else {
        return Err(usage("run"));
    };
    let argv: Vec<&str> = rest.iter().map(String::as_str).collect();
    let options = SpawnOptions {
        allow: (!allow.is_empty()).then_some(&allow[..]),
        memory: None,
        kmem,
    };
    let pid = ctx
        .host
        .spawn_with(name, &argv, &options)
        .map_err(|e| match e {
            Error::NotFound => format!("no such program: {}", Printable(name)),
            // The kernel refuses names that cannot be in /bin (`a/b`, `.x`, over 64 bytes).
            Error::InvalidArgument => format!("not a program name: {}", Printable(name)),
            e => format!("{}: {e}", Printable(name)),
        })?;
    // The kernel's name for the run, so that start and end lines agree with `ps`.
    let name = jobs::lookup(ctx.host, pid).map_or_else(|| name.clone(), |s| s.name);
    let job = Job { pid, name };
    if background {
        ctx.jobs.start_background(ctx.host, job, ctx.out);
    } else {
        // Nothing more to print: the run's output follows, then its status line.
        ctx.jobs.start_foreground(ctx.host, job, Mode::Run, ctx.out);
    }
    Ok(())
}

/// Runs `/bin/<program> args…` in the foreground for a command that is a small program of that
/// name (`emit`, `sub`, `log`, `req`, `ping`, `nc`, …).
fn bus_command(ctx: &mut Ctx<'_>, program: &str, args: &[String], min: usize) -> CmdResult {
    if args.len() < min {
        return Err(usage(program));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = ctx.host.spawn(program, &argv).map_err(|e| match e {
        // A board's archive leaves out what it cannot use (no network: no `ping`, `nc`).
        Error::NotFound => format!("/bin/{program} is not on this system"),
        e => format!("cannot start /bin/{program}: {e}"),
    })?;
    let job = Job {
        pid,
        name: String::from(program),
    };
    ctx.jobs
        .start_foreground(ctx.host, job, Mode::Command, ctx.out);
    Ok(())
}

fn emit(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "emit", args, 2)
}

fn sub(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "sub", args, 1)
}

fn log(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "log", args, 1)
}

/// `scan <view> <key>`: served by the kernel, not a program, so that asking a view costs no
/// run's worth of memory beside the view (on a small board the view may have to be paged in).
fn scan(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let [view, key] = args else {
        return Err(usage("scan"));
    };
    let mut result = Err(String::new());
    ctx.host.scan_view(view, key, &mut |reply| {
        result = reply
            .map(|answer| String::from_utf8_lossy(answer).into_owned())
            .map_err(|(e, why)| view_error(e, why));
    });
    let _ = writeln!(ctx.out, "{}", result?);
    Ok(())
}

/// `<error>: <why>`, as the bus programs report a failed call.
fn view_error(e: Error, why: &str) -> String {
    if why.is_empty() {
        String::from(e.message())
    } else {
        format!("{}: {why}", e.message())
    }
}

fn consumer(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "consumer", args, 2)
}

/// `seal <view>`: served by the kernel, as `scan` is.
fn seal(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let [view] = args else {
        return Err(usage("seal"));
    };
    let mut result = Err(String::new());
    ctx.host.seal_view(view, &mut |reply| {
        result = reply.map_err(|(e, why)| view_error(e, why));
    });
    let _ = writeln!(ctx.out, "sealed {view} at {}", result?);
    Ok(())
}

fn timer(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "timer", args, 2)
}

fn req(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "req", args, 2)
}

/// `dlq [consumer] …`: `log dlq.>` (or `dlq.<consumer>.>`).
fn dlq(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (pattern, rest) = match args.split_first() {
        Some((consumer, rest)) if !consumer.starts_with("--") => {
            (format!("dlq.{consumer}.>"), rest)
        }
        _ => (String::from("dlq.>"), args),
    };
    let mut words = Vec::with_capacity(rest.len() + 1);
    words.push(pattern);
    words.extend(rest.iter().cloned());
    bus_command(ctx, "log", &words, 1)
}

/// `ps` columns: header and whether the column is right-aligned (numbers).
const PS_COLUMNS: [(&str, bool); 8] = [
    ("PID", true),
    ("PPID", true),
    ("STATE", false),
    ("NAME", false),
    ("MEM", true),
    ("KMEM", true),
    ("CPU", true),
    ("INFO", false),
];

/// One `ps` row from a `proc://<pid>/status` file (KMEM: what the kernel holds for the run;
/// 0 for services and finished runs).
fn ps_row(status: &str) -> Option<[String; 8]> {
    let f = |key: &str| zb_abi::runs::field(status, key);
    let info = match f("state")? {
        "DONE" => f("exit").unwrap_or("").to_string(),
        "WAIT" => f("wait").unwrap_or("").to_string(),
        _ => String::new(),
    };
    let memory: u64 = f("memory")?.parse().ok()?;
    let kmem: u64 = f("kmem").and_then(|k| k.parse().ok()).unwrap_or(0);
    Some([
        f("pid")?.to_string(),
        f("ppid")?.to_string(),
        f("state")?.to_string(),
        format!("{}", Printable(f("name")?)),
        format!("{}", Bytes(memory)),
        format!("{}", Bytes(kmem)),
        f("fuel")?.to_string(),
        info,
    ])
}

/// `ps`: every run, read from `proc://`.
fn ps(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let entries = list_dir(ctx.host, "proc://").map_err(|e| format!("proc://: {e}"))?;
    let mut pids: Vec<Pid> = entries.iter().filter_map(|(_, n)| n.parse().ok()).collect();
    pids.sort_unstable();
    let mut rows: Vec<[String; 8]> = Vec::new();
    for pid in pids {
        // A run reaped between the listing and this read is simply not shown.
        if let Ok(text) = read_all(ctx.host, &format!("proc://{pid}/status"))
            && let Some(row) = ps_row(&String::from_utf8_lossy(&text))
        {
            rows.push(row);
        }
    }
    let mut widths = PS_COLUMNS.map(|(h, _)| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = PS_COLUMNS.map(|(h, _)| String::from(h));
    for row in core::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, ((cell, &(_, right)), &w)) in row.iter().zip(&PS_COLUMNS).zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = if right {
                write!(line, "{cell:>w$}")
            } else {
                write!(line, "{cell:<w$}")
            };
        }
        let _ = writeln!(ctx.out, "{}", line.trim_end());
    }
    Ok(())
}

/// `dmesg`: the system log.
fn dmesg(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let text = read_all(ctx.host, "proc://log").map_err(|e| format!("proc://log: {e}"))?;
    ctx.out.push_str(&String::from_utf8_lossy(&text));
    Ok(())
}

/// `kinds`: the registry.
fn kinds(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let _ = writeln!(
        ctx.out,
        "{:<12}{:<9}{:<18}PROVIDER",
        "KINDID", "CLASS", "NAME"
    );
    let out = &mut *ctx.out;
    ctx.host.kinds(&mut |k| {
        let class = k.id.class().map_or("?", |c| c.name());
        let provider = if k.provider == 0 {
            String::from("kernel")
        } else {
            format!("pid {}", k.provider)
        };
        let _ = writeln!(
            out,
            "{:<12}{:<9}{:<18}{provider}",
            k.id.to_string(),
            class,
            k.name
        );
    });
    Ok(())
}

fn kill(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let pid = parse_pid("kill", args)?;
    match ctx.host.kill(pid) {
        Ok(()) => {}
        Err(Error::NotFound) => return Err(format!("no such run: {pid}")),
        Err(e) => return Err(format!("{pid}: {e}")),
    }
    // Nothing to print: a killed background job is announced like any other ending, by the
    // kernel's exit report, above the prompt.
    Ok(())
}

fn wait(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let pid = parse_pid("wait", args)?;
    let run = jobs::lookup(ctx.host, pid).ok_or_else(|| format!("no such run: {pid}"))?;
    if run.kind == RunKind::Service {
        return Err(format!("{pid} is a service, not a run (it never ends)"));
    }
    let job = Job {
        pid,
        name: run.name,
    };
    // A DONE run's status is printed at once; otherwise the shell waits for its end.
    ctx.jobs
        .start_foreground(ctx.host, job, Mode::Wait, ctx.out);
    Ok(())
}

/// Prints a text file the net service serves (`net://if`, `net://sockets`).
fn net_text(ctx: &mut Ctx<'_>, args: &[String], url: &str) -> CmdResult {
    no_args(args)?;
    let data = crate::files::read_all(ctx.host, url).map_err(|e| match e {
        Error::NotFound => {
            String::from("no network interface (this machine has no network service)")
        }
        e => format!("{url}: {e}"),
    })?;
    ctx.out.push_str(&String::from_utf8_lossy(&data));
    Ok(())
}

/// A `nats://` text (the federation link's); `NotFound`: this system has no link.
fn federation_text(ctx: &mut Ctx<'_>, url: &str) -> CmdResult {
    let data = crate::files::read_all(ctx.host, url).map_err(|e| match e {
        Error::NotFound => String::from("no federation link on this system"),
        Error::InvalidArgument => format!("{url}: not a capability id or preference"),
        e => format!("{url}: {e}"),
    })?;
    ctx.out.push_str(&String::from_utf8_lossy(&data));
    Ok(())
}

fn nodes(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    federation_text(ctx, "nats://nodes")
}

fn caps(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    federation_text(ctx, "nats://caps")
}

fn link(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    federation_text(ctx, "nats://link")
}

fn resolve(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (id, prefer) = match args {
        [id] => (id, None),
        [id, prefer] => (id, Some(prefer)),
        _ => {
            return Err(String::from(
                "usage: resolve <capability> [hub|member|browser|node:<id>]",
            ));
        }
    };
    let id = id.strip_prefix("capability://").unwrap_or(id);
    if id.is_empty() || id.contains(['?', '/', ' ']) {
        return Err(format!("resolve: {id}: not a capability id"));
    }
    let url = match prefer {
        Some(p) => format!("nats://resolve/{id}?prefer={p}"),
        None => format!("nats://resolve/{id}"),
    };
    federation_text(ctx, &url)
}

fn ifconfig(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    net_text(ctx, args, "net://if")
}

fn netstat(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    net_text(ctx, args, "net://sockets")
}

fn ping(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "ping", args, 1)
}

fn nc(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "nc", args, 2)
}

fn tftp(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    bus_command(ctx, "tftp", args, 2)
}

/// `replay <pid>`: a replay of the run in the foreground; its output is the verdict.
fn replay(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let pid = parse_pid("replay", args)?;
    let replay = ctx.host.replay(pid).map_err(|e| match e {
        Error::Busy => format!("run {pid} has not finished"),
        Error::NotFound => format!(
            "no recording of run {pid} (only recent runs' are kept; services are not recorded)"
        ),
        Error::TooLarge => format!("run {pid} made more calls than a recording holds"),
        e => format!("{pid}: {e}"),
    })?;
    let job = Job {
        pid: replay,
        name: format!("replay {pid}"),
    };
    ctx.jobs
        .start_foreground(ctx.host, job, Mode::Command, ctx.out);
    Ok(())
}

/// `time <command> [arg ...]`: runs the command and writes `time: <ms> ms (<n> cycles)` after
/// it, or, if it started a foreground job, makes that job print it when it ends. The time
/// covers the command's own output (written before the clocks are read again) and, for a
/// foreground job, its output up to its exit report. A failing command is timed too.
fn time(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some((name, rest)) = args.split_first() else {
        return Err(usage("time"));
    };
    let cmd =
        find(name).ok_or_else(|| format!("unknown command: {} (try help)", Printable(name)))?;
    if cmd.name == "time" {
        // One `time:` line per command line: a parser of the output can rely on it.
        return Err(String::from("nested time is not supported"));
    }
    let had_foreground = ctx.jobs.foreground().is_some();
    ctx.flush();
    let timing = Timing::start(ctx.host);
    if let Err(msg) = (cmd.run)(ctx, rest) {
        let _ = writeln!(ctx.out, "{}: {msg}", cmd.name);
    }
    if !had_foreground && ctx.jobs.time_foreground(timing) {
        return Ok(()); // the job's end prints the time
    }
    ctx.flush();
    timing.write(ctx.host, ctx.out);
    Ok(())
}
