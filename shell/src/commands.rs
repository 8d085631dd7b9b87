//! The command table: every shell command, its usage line and what it does.
//!
//! Commands are plain functions over a [`Ctx`]; they write their answer to `ctx.out` and report
//! failure as a message (the shell prefixes the command name). Adding a command is adding one
//! entry to [`COMMANDS`].

use alloc::string::String;
use core::fmt::Write;

use zb_abi::{Host, OS_NAME, PowerAction};

use zb_abi::fmt::{Bytes, Millis, Uptime};

/// What a command runs with.
pub struct Ctx<'a> {
    pub host: &'a mut dyn Host,
    pub out: &'a mut String,
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
        Some(a) => Err(alloc::format!("unexpected argument: {a}")),
    }
}

fn help(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if let Some(name) = args.first() {
        let cmd = find(name).ok_or_else(|| alloc::format!("no such command: {name}"))?;
        let _ = writeln!(
            ctx.out,
            "usage: {} {}\n  {}",
            cmd.name, cmd.args, cmd.summary
        );
        return Ok(());
    }
    let _ = writeln!(ctx.out, "commands:");
    for cmd in COMMANDS.iter().filter(|c| !c.hidden) {
        let usage = alloc::format!("{} {}", cmd.name, cmd.args);
        let _ = writeln!(ctx.out, "  {usage:<22}{}", cmd.summary);
    }
    let _ = writeln!(
        ctx.out,
        "editing: Left/Right move, Up/Down history, Ctrl-A/E start/end, Ctrl-U/K/W erase,\n         Ctrl-C cancel, Ctrl-L clear screen"
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
    Err(alloc::format!("{err}"))
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
