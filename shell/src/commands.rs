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

use zb_abi::{Error, Host, OS_NAME, Pid, PowerAction, RunInfo, RunKind, StateName, WaitOn};

use zb_abi::fmt::{Bytes, Millis, Uptime};

use crate::Printable;
use crate::jobs::{self, Job, Jobs, Mode, Timing};

/// What a command runs with.
pub struct Ctx<'a> {
    pub host: &'a mut dyn Host,
    pub out: &'a mut String,
    /// The shell's jobs: `run` and `wait` set the foreground job here.
    pub jobs: &'a mut Jobs,
}

impl Ctx<'_> {
    /// Sends what has been written so far to the terminal (before a call that may not return).
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            self.host.console_write(self.out.as_bytes());
            self.out.clear();
        }
    }
}

pub type CmdResult = Result<(), String>;

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
        args: "<prog> [arg ...] [&]",
        summary: "start /bin/<prog> and wait for it (&: don't wait)",
        hidden: false,
        run: run_program,
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
        name: "time",
        args: "<command> [arg ...]",
        summary: "run a command, then show its time in ms and cycles",
        hidden: false,
        run: time,
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
    let width = visible()
        .map(|c| c.name.len() + 1 + c.args.len())
        .max()
        .unwrap_or(0)
        + 2;
    for cmd in visible() {
        let usage = format!("{} {}", cmd.name, cmd.args);
        let _ = writeln!(ctx.out, "  {usage:<width$}{}", cmd.summary);
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

fn mem(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let m = ctx.host.meminfo();
    let _ = writeln!(
        ctx.out,
        "{:<8}{:>12}{:>12}{:>12}",
        "", "used", "free", "total"
    );
    let (u, f, t) = (m.heap.used as u64, m.heap.free as u64, m.heap.total as u64);
    let _ = writeln!(
        ctx.out,
        "{:<8}{:>12}{:>12}{:>12}",
        "heap",
        Bytes(u),
        Bytes(f),
        Bytes(t)
    );
    match m.frames {
        Some(fr) => {
            let _ = writeln!(
                ctx.out,
                "{:<8}{:>12}{:>12}{:>12}  ({} frames)",
                "frames",
                fr.used,
                fr.free(),
                fr.total,
                Bytes(fr.frame_size)
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
    let _ = writeln!(ctx.out, "{:<8}{:>36}", "ram", Bytes(m.ram_total));
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
    ctx.out.push_str(crate::CLEAR_SCREEN);
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
    let Some((name, rest)) = words.split_first() else {
        return Err(usage("run"));
    };
    let argv: Vec<&str> = rest.iter().map(String::as_str).collect();
    let pid = ctx.host.spawn(name, &argv).map_err(|e| match e {
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

/// `ps` columns: header and whether the column is right-aligned (numbers).
const PS_COLUMNS: [(&str, bool); 7] = [
    ("PID", true),
    ("PPID", true),
    ("STATE", false),
    ("NAME", false),
    ("MEM", true),
    ("CPU", true),
    ("INFO", false),
];

/// One `ps` row as text.
fn ps_row(r: &RunInfo<'_>) -> [String; 7] {
    let info = match (r.state, r.wait) {
        (StateName::Done, _) => jobs::exit_text(r.exit.as_ref()),
        (StateName::Wait, Some(w)) => match w {
            WaitOn::Ready => String::from("ready"),
            WaitOn::Sleep { .. } => String::from("sleep"),
            WaitOn::Channel => String::from("chan"),
            WaitOn::Child { pid } => format!("child {pid}"),
            WaitOn::Input => String::from("input"),
        },
        _ => String::new(),
    };
    [
        r.pid.to_string(),
        r.parent.to_string(),
        String::from(r.state.as_str()),
        format!("{}", Printable(r.name)),
        format!("{}", Bytes(r.memory as u64)),
        r.fuel.to_string(),
        info,
    ]
}

fn ps(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    no_args(args)?;
    let mut rows: Vec<[String; 7]> = Vec::new();
    ctx.host.runs(&mut |r| rows.push(ps_row(r)));
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
