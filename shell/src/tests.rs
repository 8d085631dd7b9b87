//! Shell behaviour as a user at the terminal sees it, against a scripted host.

extern crate std;

use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::{ConsoleClient, Error, FrameInfo, HeapInfo, Host, MemInfo, PowerAction, SysInfo};

use super::*;

#[derive(Default)]
struct FakeHost {
    wire: Vec<u8>,
    power: Vec<PowerAction>,
    frames: bool,
}

impl Host for FakeHost {
    fn console_write(&mut self, bytes: &[u8]) {
        self.wire.extend_from_slice(bytes);
    }
    fn clock_us(&self) -> u64 {
        83_456_789
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: "9.9.9",
            platform: "testland",
            machine: "a test double",
            profile: "debug",
            boot_us: 12_345,
        }
    }
    fn meminfo(&self) -> MemInfo {
        MemInfo {
            ram_total: 256 << 20,
            heap: HeapInfo {
                used: 12_600,
                free: (64 << 20) - 12_600,
                total: 64 << 20,
            },
            frames: self.frames.then_some(FrameInfo {
                used: 100,
                total: 1000,
                frame_size: 4096,
            }),
        }
    }
    fn power(&mut self, action: PowerAction) -> Error {
        self.power.push(action);
        Error::Unsupported
    }
}

/// Types `input` into a fresh shell and returns everything the terminal showed.
fn session(host: &mut FakeHost, input: &str) -> String {
    let mut shell = Shell::new();
    shell.attach(host);
    shell.input(input.as_bytes(), host);
    String::from_utf8(core::mem::take(&mut host.wire)).unwrap()
}

fn run(input: &str) -> String {
    session(&mut FakeHost::default(), input)
}

#[test]
fn prompt_and_echo() {
    let out = run("echo hello   world\r");
    assert_eq!(out, "zb:/> echo hello   world\nhello world\nzb:/> ");
}

#[test]
fn quoted_arguments() {
    assert!(run("echo 'a  b' \"c\"\r").contains("\na  b c\n"));
    assert!(run("echo 'open\r").contains("syntax error: unterminated quote (')"));
}

#[test]
fn unknown_command() {
    assert!(run("frobnicate now\r").contains("unknown command: frobnicate (try help)\n"));
    // Control characters in the name are escaped, never sent raw.
    let out = run("\x07bad\r");
    assert!(!out.contains("unknown command: \x07"));
    let mut out = String::new();
    Shell::new().execute("a\u{1b}[2Jb", &mut FakeHost::default(), &mut out);
    assert_eq!(out, "unknown command: a\\u{1b}[2Jb (try help)\n");
}

#[test]
fn help_lists_every_visible_command() {
    let out = run("help\r");
    for cmd in commands::COMMANDS.iter().filter(|c| !c.hidden) {
        assert!(
            out.contains(&alloc::format!("  {} ", cmd.name)),
            "{} missing",
            cmd.name
        );
        assert!(out.contains(cmd.summary));
    }
    assert!(!out.contains("panic"));
    assert!(run("help echo\r").contains("usage: echo [word ...]"));
    assert!(run("help nope\r").contains("help: no such command: nope"));
}

#[test]
fn uptime_version_mem() {
    assert!(run("uptime\r").contains("up 00:01:23.456 (83.456 s)"));
    let v = run("version\r");
    assert!(
        v.contains("ZeroBus OS 9.9.9 (testland, debug build)"),
        "{v}"
    );
    assert!(v.contains("boot: kernel entry to prompt 12.345 ms"));
    let m = run("mem\r");
    assert!(m.contains("heap"), "{m}");
    assert!(m.contains("12.3 KiB") && m.contains("64.0 MiB"), "{m}");
    assert!(m.contains("n/a (no paging"));
    let mut host = FakeHost {
        frames: true,
        ..Default::default()
    };
    let m = session(&mut host, "mem\r");
    assert!(m.contains("frames") && m.contains("100") && m.contains("900") && m.contains("1000"));
    assert!(run("mem extra\r").contains("mem: unexpected argument: extra"));
}

#[test]
fn power_commands_reach_the_host_and_report_refusal() {
    let mut host = FakeHost::default();
    let out = session(&mut host, "shutdown\rreboot\rpanic\r");
    assert_eq!(
        host.power,
        [
            PowerAction::Shutdown,
            PowerAction::Reboot,
            PowerAction::TestPanic
        ]
    );
    assert!(out.contains("shutting down\nshutdown: not supported\n"));
    assert!(out.contains("rebooting\nreboot: not supported\n"));
}

#[test]
fn clear_and_ctrl_l() {
    assert!(run("clear\r").contains(CLEAR_SCREEN));
    let out = run("ec\x0cho x\r");
    assert!(out.contains("\x1b[2J\x1b[Hzb:/> ec"), "{out:?}");
    assert!(out.ends_with("\nx\nzb:/> "));
}

#[test]
fn every_line_ends_with_a_prompt() {
    let out = run("\r\x03xx\x03\r");
    assert_eq!(out.matches("zb:/> ").count(), 5, "{out:?}");
}
