//! Shell behaviour as a user at the terminal sees it, against a scripted host.

extern crate std;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use zb_abi::syscall::StatusKind;
use zb_abi::{
    Admin, Bus, Console, ConsoleClient, Error, ExitView, Files, FrameInfo, HeapInfo, MemInfo, Pid,
    PowerAction, RunInfo, RunKind, Runs, Schemes, StateName, SysInfo, System, WaitOn,
};

use super::*;

/// An open file of the fake host: its bytes, the position, the path if opened for writing.
type OpenFile = (Vec<u8>, usize, Option<String>);

/// A run in the fake kernel's table.
#[derive(Clone)]
struct FakeRun {
    pid: Pid,
    parent: Pid,
    kind: RunKind,
    name: String,
    state: StateName,
    wait: Option<WaitOn>,
    memory: usize,
    fuel: u64,
    exit: Option<(StatusKind, i32, String)>,
}

impl FakeRun {
    fn new(pid: Pid, name: &str, state: StateName) -> Self {
        FakeRun {
            pid,
            parent: zb_abi::runs::CONSOLE_PID,
            kind: RunKind::Wasm,
            name: name.into(),
            state,
            wait: None,
            memory: 0,
            fuel: 0,
            exit: None,
        }
    }

    fn console() -> Self {
        FakeRun {
            parent: 0,
            kind: RunKind::Service,
            wait: Some(WaitOn::Input),
            ..FakeRun::new(1, "console", StateName::Wait)
        }
    }

    fn done(mut self, kind: StatusKind, code: i32, message: &str) -> Self {
        self.state = StateName::Done;
        self.wait = None;
        self.memory = 0;
        self.exit = Some((kind, code, message.into()));
        self
    }

    fn info(&self) -> RunInfo<'_> {
        RunInfo {
            pid: self.pid,
            parent: self.parent,
            kind: self.kind,
            name: &self.name,
            state: self.state,
            wait: self.wait,
            memory: self.memory,
            fuel: self.fuel,
            exit: self.exit.as_ref().map(|(kind, code, message)| ExitView {
                kind: *kind,
                code: *code,
                message,
            }),
        }
    }
}

#[derive(Default)]
struct FakeHost {
    wire: Vec<u8>,
    power: Vec<PowerAction>,
    frames: bool,
    /// Programs `spawn` finds in /bin.
    programs: Vec<&'static str>,
    /// Programs that get a pid but are DONE at once with this status (they fail to load).
    broken: Vec<(&'static str, StatusKind, &'static str)>,
    runs: Vec<FakeRun>,
    spawned: Vec<(String, Vec<String>)>,
    killed: Vec<Pid>,
    /// `kill` marks the run DONE before returning (otherwise the test reports the end).
    kill_ends_at_once: bool,
    /// `kill` of a live run fails with this.
    kill_error: Option<Error>,
    /// Microseconds since [`CLOCK_BASE_US`]; the cycle counter follows it at
    /// [`CYCLES_PER_US`].
    elapsed_us: Cell<u64>,
    /// How far each `clock_us` reading moves the clock, after it is read (time passing while
    /// the shell works).
    step_us: u64,
    /// A tiny file system: directories and files by absolute path.
    dirs: Vec<String>,
    files: std::collections::BTreeMap<String, Vec<u8>>,
    /// Open handles: contents snapshot (or packed dirents), position, writable path.
    open: Vec<Option<OpenFile>>,
    /// Spawns with URL grants, as `(name, allow)`.
    allowed: Vec<(String, Vec<String>)>,
    /// Spawns with a kernel-memory quota, as `(name, bytes)`.
    kmems: Vec<(String, usize)>,
    /// The wall clock as set: (UNIX seconds, `elapsed_us` when set).
    wall: Option<(u64, u64)>,
}

/// What the fake clock reads before it has moved.
const CLOCK_BASE_US: u64 = 83_456_789;
/// The fake CPU's cycle counter: a 2 GHz counter with an arbitrary starting point.
const CYCLES_PER_US: u64 = 2000;
const CYCLES_BASE: u64 = 1_000_000_007;

impl FakeHost {
    /// A kernel with the console service (pid 1) and a few programs.
    fn with_programs() -> Self {
        FakeHost {
            programs: vec!["hello", "spin"],
            broken: vec![("broken", StatusKind::Invalid, "not a wasm module")],
            runs: vec![FakeRun::console()],
            dirs: vec!["/".into(), "/bin".into(), "/data".into()],
            ..Default::default()
        }
    }

    fn run_mut(&mut self, pid: Pid) -> &mut FakeRun {
        self.runs.iter_mut().find(|r| r.pid == pid).unwrap()
    }

    /// Time passes.
    fn advance(&self, us: u64) {
        self.elapsed_us.set(self.elapsed_us.get() + us);
    }
}

impl FakeHost {
    /// What `url` holds now: file bytes, or packed entries for a directory.
    fn content(&self, url: &str) -> Result<(Vec<u8>, bool), Error> {
        use core::fmt::Write as _;
        use zb_abi::scheme::{FileKind, encode_dirent};
        let dir = |names: Vec<(FileKind, String)>| {
            let mut out = vec![0u8; 4096];
            let mut at = 0;
            for (k, n) in names {
                at = encode_dirent(&mut out, at, k, &n).unwrap();
            }
            out.truncate(at);
            (out, true)
        };
        if url == "proc://" {
            let mut names = vec![(FileKind::Dir, "self".to_string())];
            names.extend(self.runs.iter().map(|r| (FileKind::Dir, r.pid.to_string())));
            return Ok(dir(names));
        }
        if let Some(rest) = url.strip_prefix("proc://") {
            let pid: Pid = rest
                .trim_end_matches("/status")
                .parse()
                .map_err(|_| Error::NotFound)?;
            let run = self
                .runs
                .iter()
                .find(|r| r.pid == pid)
                .ok_or(Error::NotFound)?;
            let mut text = String::new();
            run.info().write_status(&mut text).unwrap();
            return Ok((text.into_bytes(), false));
        }
        if let Some(what) = url.strip_prefix("mem://") {
            let m = self.meminfo();
            let mut t = String::new();
            match what {
                "heap" => write!(
                    t,
                    "used: {}\nfree: {}\ntotal: {}\n",
                    m.heap.used, m.heap.free, m.heap.total
                ),
                "ram" => writeln!(t, "total: {}", m.ram_total),
                "frames" => {
                    let f = m.frames.ok_or(Error::NotFound)?;
                    write!(
                        t,
                        "used: {}\ntotal: {}\nframe_size: {}\n",
                        f.used, f.total, f.frame_size
                    )
                }
                _ => return Err(Error::NotFound),
            }
            .unwrap();
            return Ok((t.into_bytes(), false));
        }
        if let Some(data) = self.files.get(url) {
            return Ok((data.clone(), false));
        }
        if self.dirs.iter().any(|d| d == url) {
            let prefix = if url == "/" {
                "/".to_string()
            } else {
                alloc::format!("{url}/")
            };
            let mut names = Vec::new();
            for d in &self.dirs {
                if let Some(n) = d
                    .strip_prefix(&prefix)
                    .filter(|n| !n.is_empty() && !n.contains('/'))
                {
                    names.push((FileKind::Dir, n.to_string()));
                }
            }
            for f in self.files.keys() {
                if let Some(n) = f.strip_prefix(&prefix).filter(|n| !n.contains('/')) {
                    names.push((FileKind::File, n.to_string()));
                }
            }
            return Ok(dir(names));
        }
        Err(Error::NotFound)
    }

    fn parent_exists(&self, path: &str) -> bool {
        let parent = match path.rfind('/') {
            Some(0) => "/",
            Some(i) => &path[..i],
            None => return false,
        };
        self.dirs.iter().any(|d| d == parent)
    }
}

impl Console for FakeHost {
    fn console_write(&mut self, bytes: &[u8]) {
        self.wire.extend_from_slice(bytes);
    }
}

impl System for FakeHost {
    fn clock_us(&self) -> u64 {
        let now = CLOCK_BASE_US + self.elapsed_us.get();
        self.advance(self.step_us);
        now
    }
    fn cycles(&self) -> u64 {
        CYCLES_BASE + self.elapsed_us.get() * CYCLES_PER_US
    }
    fn wall_clock(&self) -> Option<u64> {
        let (secs, at) = self.wall?;
        Some(secs + (self.elapsed_us.get() - at) / 1_000_000)
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
}

impl Files for FakeHost {
    fn open(&mut self, url: &str, flags: zb_abi::scheme::OpenFlags) -> Result<u32, Error> {
        use zb_abi::scheme::OpenFlags as F;
        let (data, writable) = if flags.contains(F::WRITE) {
            if url.starts_with("/bin") {
                return Err(Error::ReadOnly);
            }
            if self.dirs.iter().any(|d| d == url) {
                return Err(Error::IsADirectory);
            }
            if !self.parent_exists(url) {
                return Err(Error::NotFound);
            }
            let old = self.files.get(url).cloned();
            if old.is_none() && !flags.contains(F::CREATE) {
                return Err(Error::NotFound);
            }
            let mut data = old.unwrap_or_default();
            if flags.contains(F::TRUNCATE) {
                data.clear();
            }
            self.files.insert(url.to_string(), data.clone());
            (data, Some(url.to_string()))
        } else {
            let (data, is_dir) = self.content(url)?;
            if is_dir != flags.contains(F::DIRECTORY) {
                return Err(if is_dir {
                    Error::IsADirectory
                } else {
                    Error::NotADirectory
                });
            }
            (data, None)
        };
        let pos = if flags.contains(F::APPEND) {
            data.len()
        } else {
            0
        };
        self.open.push(Some((data, pos, writable)));
        Ok(self.open.len() as u32 + 0x10000)
    }
    fn read(&mut self, handle: u32, buf: &mut [u8]) -> Result<usize, Error> {
        let (data, pos, _) = self
            .open
            .get_mut((handle - 0x10001) as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        let n = buf.len().min(data.len() - *pos);
        buf[..n].copy_from_slice(&data[*pos..*pos + n]);
        *pos += n;
        Ok(n)
    }
    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<usize, Error> {
        let (data, pos, path) = self
            .open
            .get_mut((handle - 0x10001) as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)?;
        let path = path.clone().ok_or(Error::PermissionDenied)?;
        data.truncate(*pos);
        data.extend_from_slice(bytes);
        *pos += bytes.len();
        let data = data.clone();
        self.files.insert(path, data);
        Ok(bytes.len())
    }
    fn close(&mut self, handle: u32) -> Result<(), Error> {
        let slot = self
            .open
            .get_mut((handle - 0x10001) as usize)
            .ok_or(Error::BadHandle)?;
        slot.take().map(drop).ok_or(Error::BadHandle)
    }
    fn stat(&mut self, url: &str) -> Result<zb_abi::scheme::Stat, Error> {
        use zb_abi::scheme::{FileKind, Stat};
        let (data, is_dir) = self.content(url)?;
        Ok(Stat {
            kind: if is_dir {
                FileKind::Dir
            } else {
                FileKind::File
            },
            size: data.len() as u64,
            read_only: url.starts_with("/bin"),
            mtime: 0,
        })
    }
    fn mkdir(&mut self, url: &str) -> Result<(), Error> {
        if self.content(url).is_ok() {
            return Err(Error::AlreadyExists);
        }
        if !self.parent_exists(url) {
            return Err(Error::NotFound);
        }
        self.dirs.push(url.to_string());
        Ok(())
    }
    fn unlink(&mut self, url: &str) -> Result<(), Error> {
        if self.dirs.iter().any(|d| d == url) {
            return Err(Error::IsADirectory);
        }
        self.files.remove(url).map(drop).ok_or(Error::NotFound)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        let data = self.files.remove(from).ok_or(Error::NotFound)?;
        self.files.insert(to.to_string(), data);
        Ok(())
    }
    fn statfs(&mut self, url: &str) -> Result<zb_abi::scheme::FsInfo, Error> {
        let (total, free) = match url {
            "/" => (52_000, 0),
            "/tmp" => (8 << 20, (8 << 20) - 3000),
            _ => return Err(Error::Corrupt),
        };
        Ok(zb_abi::scheme::FsInfo {
            total,
            free,
            read_only: url == "/",
        })
    }
}

impl Runs for FakeHost {
    fn spawn_with(
        &mut self,
        name: &str,
        args: &[&str],
        options: &zb_abi::SpawnOptions<'_>,
    ) -> Result<Pid, Error> {
        if let Some(kmem) = options.kmem {
            self.kmems.push((name.to_string(), kmem));
        }
        if let Some(allow) = options.allow {
            self.allowed.push((
                name.to_string(),
                allow.iter().map(|a| a.to_string()).collect(),
            ));
        }
        self.start_run(name, args)
    }
    fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        let (ends_at_once, error) = (self.kill_ends_at_once, self.kill_error);
        let run = self
            .runs
            .iter_mut()
            .find(|r| r.pid == pid && r.state != StateName::Done)
            .ok_or(Error::NotFound)?;
        if run.kind == RunKind::Service {
            return Err(Error::PermissionDenied);
        }
        if let Some(e) = error {
            return Err(e);
        }
        if ends_at_once {
            *run = run.clone().done(StatusKind::Rejected, 0, "killed");
        }
        self.killed.push(pid);
        Ok(())
    }
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        for r in &self.runs {
            visit(&r.info());
        }
    }
}

impl Bus for FakeHost {
    fn scan_view(&mut self, view: &str, key: &str, reply: zb_abi::ScanReply<'_>) {
        match (view, key) {
            ("ledger.balances", "alice") => reply(Ok(br#"{"account":"alice","balance":10}"#)),
            ("ledger.balances", _) => reply(Err((
                Error::NotFound,
                &alloc::format!("view ledger.balances has nothing for {key:?}"),
            ))),
            _ => reply(Err((
                Error::NotFound,
                &alloc::format!("no view named {view:?}"),
            ))),
        }
    }
    fn seal_view(&mut self, view: &str, reply: zb_abi::SealReply<'_>) {
        match view {
            "ledger.balances" => reply(Ok(7)),
            _ => reply(Err((
                Error::NotFound,
                &alloc::format!("no view named {view:?}"),
            ))),
        }
    }
}

impl Admin for FakeHost {
    fn power(&mut self, action: PowerAction) -> Error {
        self.power.push(action);
        Error::Unsupported
    }
    fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        self.wall = Some((unix_secs, self.elapsed_us.get()));
        Ok(())
    }
}

// The shell serves no scheme; `kinds` lists an empty registry.
impl Schemes for FakeHost {}

impl FakeHost {
    /// Starts `name` as `/bin/<name>` would be.
    fn start_run(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::InvalidArgument);
        }
        if name == "many" {
            return Err(Error::OutOfMemory);
        }
        let broken = self.broken.iter().find(|b| b.0 == name).copied();
        if !self.programs.contains(&name) && broken.is_none() {
            return Err(Error::NotFound);
        }
        self.spawned
            .push((name.into(), args.iter().map(|a| a.to_string()).collect()));
        let pid = self.runs.iter().map(|r| r.pid).max().unwrap_or(1) + 1;
        let mut run = FakeRun {
            wait: Some(WaitOn::Ready),
            memory: 64 << 10,
            ..FakeRun::new(pid, name, StateName::Wait)
        };
        if let Some((_, kind, message)) = broken {
            run = run.done(kind, 0, message);
        }
        self.runs.push(run);
        Ok(pid)
    }
}

/// A shell attached to a fake kernel, driven like a terminal.
struct Term {
    shell: Shell,
    host: FakeHost,
}

impl Term {
    fn new(host: FakeHost) -> Self {
        let mut t = Term {
            shell: Shell::new(),
            host,
        };
        t.shell.attach(&mut t.host);
        t.wire();
        t
    }

    fn wire(&mut self) -> String {
        String::from_utf8(core::mem::take(&mut self.host.wire)).unwrap()
    }

    /// Types `input`; returns what the terminal showed.
    fn type_(&mut self, input: &str) -> String {
        self.type_bytes(input.as_bytes())
    }

    fn type_bytes(&mut self, input: &[u8]) -> String {
        self.shell.input(input, &mut self.host);
        self.wire()
    }

    /// The kernel ends run `pid` (if it is not DONE yet) and reports it to the shell.
    fn exit(&mut self, pid: Pid, kind: StatusKind, code: i32, message: &str) -> String {
        let run = self.host.run_mut(pid);
        if run.state != StateName::Done {
            *run = run.clone().done(kind, code, message);
        }
        let run = run.clone();
        self.shell.run_exited(&run.info(), &mut self.host);
        self.wire()
    }

    /// A run writes `bytes`, delivered the way the console service does it.
    fn output(&mut self, bytes: &str) -> String {
        let hidden = self.shell.hide_line(&mut self.host);
        self.host.console_write(bytes.as_bytes());
        if hidden {
            self.shell.show_line(&mut self.host);
        }
        self.wire()
    }
}

fn term() -> Term {
    Term::new(FakeHost::with_programs())
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

// ---- run, ps, kill, wait ------------------------------------------------------------------

const PROMPT: &str = "zb:/> ";

#[test]
fn foreground_run_holds_the_prompt_until_it_ends() {
    let mut t = term();
    assert_eq!(
        t.type_("run hello big 'wide world'\r"),
        "run hello big 'wide world'\n"
    );
    assert_eq!(
        t.host.spawned,
        [(
            "hello".to_string(),
            vec!["big".to_string(), "wide world".to_string()]
        )]
    );
    // Typing while it runs is not edited, echoed or executed (stdin routing comes later).
    assert_eq!(t.type_("echo nope\r\x1b[A\x7f\x04\x15"), "");
    assert_eq!(t.exit(2, StatusKind::Ok, 0, ""), "[2] hello: ok(0)\nzb:/> ");
    assert_eq!(t.type_("echo yes\r"), "echo yes\nyes\nzb:/> ");
    assert!(t.shell.jobs().foreground().is_none());
}

#[test]
fn every_kind_of_exit_status_is_shown() {
    let mut t = term();
    for (kind, code, message, shown) in [
        (StatusKind::Ok, 3, "", "ok(3)"),
        (StatusKind::Panic, 0, "unreachable", "panic: unreachable"),
        (
            StatusKind::Invalid,
            0,
            "bad import zb.nope",
            "invalid: bad import zb.nope",
        ),
        (
            StatusKind::Rejected,
            0,
            "out of memory",
            "rejected: out of memory",
        ),
    ] {
        t.type_("run hello\r");
        let pid = t.host.spawned.len() as Pid + 1;
        assert_eq!(
            t.exit(pid, kind, code, message),
            alloc::format!("[{pid}] hello: {shown}\n{PROMPT}")
        );
    }
}

#[test]
fn a_trap_message_cannot_drive_the_terminal() {
    let mut t = term();
    t.type_("run hello\r");
    let out = t.exit(2, StatusKind::Panic, 0, "bad\n\x1b[2Jthing");
    assert_eq!(out, "[2] hello: panic: bad\\n\\u{1b}[2Jthing\nzb:/> ");
}

#[test]
fn ctrl_c_kills_the_foreground_run() {
    let mut t = term();
    t.type_("run spin\r");
    assert_eq!(t.type_("\x03"), "^C\n");
    assert_eq!(t.host.killed, [2]);
    assert_eq!(
        t.exit(2, StatusKind::Rejected, 0, "killed"),
        "[2] spin: rejected: killed\nzb:/> "
    );
}

#[test]
fn ctrl_c_when_the_kernel_ends_the_run_at_once() {
    let mut t = Term::new(FakeHost {
        kill_ends_at_once: true,
        ..FakeHost::with_programs()
    });
    t.type_("run spin\r");
    // The status and prompt come at once, and the rest of the input is a new command line.
    assert_eq!(
        t.type_("\x03echo next\r"),
        "^C\n[2] spin: rejected: killed\nzb:/> echo next\nnext\nzb:/> "
    );
    // The kernel's exit report arrives afterwards: not announced a second time.
    assert_eq!(t.exit(2, StatusKind::Rejected, 0, "killed"), "");
}

#[test]
fn ctrl_c_when_the_run_vanished_still_gives_the_prompt_back() {
    let mut t = term();
    t.type_("run spin\r");
    t.host.runs.retain(|r| r.pid != 2);
    assert_eq!(
        t.type_("\x03"),
        "^C\n[2] spin: status unknown (no longer listed)\nzb:/> "
    );
}

#[test]
fn ctrl_c_on_a_run_that_cannot_be_killed_leaves_it_in_the_background() {
    let mut t = Term::new(FakeHost {
        kill_error: Some(Error::PermissionDenied),
        ..FakeHost::with_programs()
    });
    t.type_("run spin\r");
    assert_eq!(
        t.type_("\x03"),
        "^C\nrun: cannot kill 2: permission denied; it goes on in the background\nzb:/> "
    );
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        "\r\x1b[K[2] spin: ok(0)\nzb:/> "
    );
}

#[test]
fn a_module_that_fails_to_load_reports_at_once_and_only_once() {
    let mut t = term();
    assert_eq!(
        t.type_("run broken\r"),
        "run broken\n[2] broken: invalid: not a wasm module\nzb:/> "
    );
    assert_eq!(t.exit(2, StatusKind::Invalid, 0, "not a wasm module"), "");
    assert_eq!(
        t.type_("run broken &\r"),
        "run broken &\n[3] broken\n[3] broken: invalid: not a wasm module\nzb:/> "
    );
    assert_eq!(t.exit(3, StatusKind::Invalid, 0, "not a wasm module"), "");
    assert!(t.shell.jobs().background().is_empty());
}

#[test]
fn run_takes_a_kernel_memory_quota() {
    let mut t = term();
    t.type_("run --kmem 64K --allow file:///x hello &\r");
    assert_eq!(t.host.kmems, [("hello".to_string(), 64 << 10)]);
    assert_eq!(t.host.allowed.len(), 1);
    assert!(
        t.type_("run --kmem lots hello\r")
            .contains("run: bad kernel-memory size lots (e.g. 64K, 2M)"),
    );
    assert!(t.type_("run --kmem\r").contains("run: usage: run"));
}

#[test]
fn run_errors() {
    let mut t = term();
    assert_eq!(
        t.type_("run nope\r"),
        "run nope\nrun: no such program: nope\nzb:/> "
    );
    assert!(
        t.type_("run\r")
            .contains("\nrun: usage: run [--allow URL]... [--kmem SIZE] <prog> [arg ...] [&]\n")
    );
    assert!(
        t.type_("run &\r")
            .contains("\nrun: usage: run [--allow URL]... [--kmem SIZE] <prog> [arg ...] [&]\n")
    );
    assert!(
        t.type_("run ../x\r")
            .contains("\nrun: not a program name: ../x\nzb:/> ")
    );
    assert!(
        t.type_("run ''\r")
            .contains("\nrun: not a program name: \n")
    );
    assert!(
        t.type_("run many\r")
            .contains("\nrun: many: out of memory\nzb:/> ")
    );
    assert!(t.host.spawned.is_empty());
    assert!(t.shell.jobs().foreground().is_none());
    // A name with control characters is escaped in the message.
    let mut out = String::new();
    Shell::new().execute("run 'a\u{1b}b'", &mut FakeHost::with_programs(), &mut out);
    assert_eq!(out, "run: no such program: a\\u{1b}b\n");
}

#[test]
fn background_run_returns_to_the_prompt_and_announces_its_end_above_the_typed_line() {
    let mut t = term();
    assert_eq!(
        t.type_("run spin fast &\r"),
        "run spin fast &\n[2] spin\nzb:/> "
    );
    assert_eq!(
        t.host.spawned,
        [("spin".to_string(), vec!["fast".to_string()])]
    );
    // The user is half-way through a line, cursor moved left, when the run ends.
    t.type_("echo hi\x1b[D");
    assert_eq!(
        t.exit(2, StatusKind::Panic, 0, "unreachable"),
        "\r\x1b[K[2] spin: panic: unreachable\nzb:/> echo hi\x1b[1D"
    );
    // The line is intact and still being edited.
    assert_eq!(t.type_("!\r"), "!i\x1b[1D\nh!i\nzb:/> ");
}

#[test]
fn background_output_is_written_above_the_typed_line() {
    let mut t = term();
    t.type_("run spin &\r");
    t.type_("ec");
    assert_eq!(t.output("tick\n"), "\r\x1b[Ktick\nzb:/> ec");
    assert_eq!(t.type_("ho x\r"), "ho x\nx\nzb:/> ");
}

#[test]
fn foreground_output_is_not_interrupted_and_background_ends_do_not_print_a_prompt() {
    let mut t = term();
    t.type_("run spin &\r");
    t.type_("run hello\r");
    assert_eq!(
        t.output("50%"),
        "50%",
        "no hide/redraw while a run is in the foreground"
    );
    // A background job ending meanwhile prints its line, but no prompt.
    assert_eq!(t.exit(2, StatusKind::Ok, 0, ""), "[2] spin: ok(0)\n");
    assert_eq!(t.exit(3, StatusKind::Ok, 1, ""), "[3] hello: ok(1)\nzb:/> ");
}

#[test]
fn ends_of_runs_the_shell_did_not_start_are_not_announced() {
    let mut t = term();
    t.host
        .runs
        .push(FakeRun::new(9, "grandchild", StateName::Exec));
    assert_eq!(t.exit(9, StatusKind::Ok, 0, ""), "");
    t.type_("run hello\r");
    assert_eq!(t.exit(9, StatusKind::Ok, 0, ""), "");
    assert!(t.shell.jobs().foreground().is_some());
}

#[test]
fn garbage_during_a_foreground_run_is_harmless() {
    let mut t = term();
    t.type_("run spin\r");
    let garbage: Vec<u8> = (0u8..=255)
        .filter(|&b| b != 0x03)
        .cycle()
        .take(5000)
        .collect();
    assert_eq!(t.type_bytes(&garbage), "");
    assert!(t.host.killed.is_empty());
    assert_eq!(t.exit(2, StatusKind::Ok, 0, ""), "[2] spin: ok(0)\nzb:/> ");
    assert_eq!(t.type_("echo ok\r"), "echo ok\nok\nzb:/> ");
}

#[test]
fn wait_for_a_run_that_already_ended_prints_at_once() {
    let mut t = term();
    t.host
        .runs
        .push(FakeRun::new(7, "worker", StateName::Exec).done(StatusKind::Ok, 3, ""));
    assert_eq!(t.type_("wait 7\r"), "wait 7\n[7] worker: ok(3)\nzb:/> ");
}

#[test]
fn wait_for_a_live_run_blocks_until_it_ends() {
    let mut t = term();
    t.type_("run spin &\r");
    assert_eq!(t.type_("wait 2\r"), "wait 2\n");
    assert_eq!(t.type_("echo ignored\r"), "");
    assert_eq!(t.exit(2, StatusKind::Ok, 0, ""), "[2] spin: ok(0)\nzb:/> ");
    // Announced once: it was a background job, and that job is gone too.
    assert!(t.shell.jobs().background().is_empty());
}

#[test]
fn ctrl_c_stops_waiting_without_killing() {
    let mut t = term();
    t.type_("run spin &\r");
    t.type_("wait 2\r");
    assert_eq!(t.type_("\x03"), "^C\nzb:/> ");
    assert!(t.host.killed.is_empty());
    // Still a background job: its end is announced at the prompt.
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        "\r\x1b[K[2] spin: ok(0)\nzb:/> "
    );
}

#[test]
fn wait_for_a_run_the_shell_did_not_start() {
    let mut t = term();
    t.host.runs.push(FakeRun::new(5, "daemon", StateName::Exec));
    assert_eq!(t.type_("wait 5\r"), "wait 5\n");
    assert_eq!(
        t.exit(5, StatusKind::Rejected, 0, "killed"),
        "[5] daemon: rejected: killed\nzb:/> "
    );
}

#[test]
fn wait_errors() {
    let mut t = term();
    assert!(
        t.type_("wait 99\r")
            .contains("\nwait: no such run: 99\nzb:/> ")
    );
    assert!(
        t.type_("wait x\r")
            .contains("\nwait: not a pid: x (usage: wait <pid>)\n")
    );
    assert!(t.type_("wait -1\r").contains("wait: not a pid: -1"));
    assert!(
        t.type_("wait 99999999999\r")
            .contains("wait: not a pid: 99999999999")
    );
    assert!(t.type_("wait\r").contains("\nwait: usage: wait <pid>\n"));
    assert!(
        t.type_("wait 1 2\r")
            .contains("\nwait: usage: wait <pid>\n")
    );
    assert!(
        t.type_("wait 1\r")
            .contains("\nwait: 1 is a service, not a run (it never ends)\nzb:/> ")
    );
    assert!(t.shell.jobs().foreground().is_none());
}

#[test]
fn kill_a_background_job() {
    let mut t = term();
    t.type_("run spin &\r");
    assert_eq!(t.type_("kill 2\r"), "kill 2\nzb:/> ");
    assert_eq!(t.host.killed, [2]);
    assert_eq!(
        t.exit(2, StatusKind::Rejected, 0, "killed"),
        "\r\x1b[K[2] spin: rejected: killed\nzb:/> "
    );
}

#[test]
fn a_job_killed_at_once_is_announced_by_its_exit_report_above_the_prompt() {
    let mut t = Term::new(FakeHost {
        kill_ends_at_once: true,
        ..FakeHost::with_programs()
    });
    t.type_("run spin &\r");
    assert_eq!(t.type_("kill 2\r"), "kill 2\nzb:/> ");
    assert_eq!(
        t.exit(2, StatusKind::Rejected, 0, "killed"),
        "\r\x1b[K[2] spin: rejected: killed\nzb:/> "
    );
    assert!(t.type_("kill 2\r").contains("kill: no such run: 2"));
}

#[test]
fn kill_errors() {
    let mut t = term();
    assert!(
        t.type_("kill 99\r")
            .contains("\nkill: no such run: 99\nzb:/> ")
    );
    assert!(
        t.type_("kill abc\r")
            .contains("\nkill: not a pid: abc (usage: kill <pid>)\n")
    );
    assert!(t.type_("kill\r").contains("\nkill: usage: kill <pid>\n"));
    assert!(
        t.type_("kill 1\r")
            .contains("\nkill: 1: permission denied\n")
    );
    assert!(t.host.killed.is_empty());
}

#[test]
fn ps_shows_every_run_and_service_in_aligned_columns() {
    let mut t = term();
    let mut spin = FakeRun::new(2, "spin", StateName::Exec);
    spin.memory = 64 << 10;
    spin.fuel = 1_234_567;
    let mut sleeper = FakeRun::new(3, "sleeper", StateName::Wait);
    sleeper.wait = Some(WaitOn::Sleep { until_us: 5 });
    sleeper.memory = 300;
    let mut parent = FakeRun::new(4, "parent", StateName::Wait);
    parent.wait = Some(WaitOn::Child { pid: 6 });
    let mut ready = FakeRun::new(5, "ready", StateName::Wait);
    ready.wait = Some(WaitOn::Ready);
    let mut chan = FakeRun::new(6, "chan", StateName::Wait);
    chan.wait = Some(WaitOn::Channel);
    chan.parent = 4;
    let mut hello = FakeRun::new(7, "hello", StateName::Exec).done(StatusKind::Ok, 0, "");
    hello.fuel = 42;
    let bad = FakeRun::new(8, "bad", StateName::Exec).done(StatusKind::Panic, 0, "unreachable");
    let init = FakeRun::new(10, "starting", StateName::Init);
    t.host
        .runs
        .extend([spin, sleeper, parent, ready, chan, hello, bad, init]);
    let out = t.type_("ps\r");
    let expected = "\
ps
PID  PPID  STATE  NAME           MEM  KMEM      CPU  INFO
  1     0  WAIT   console        0 B   0 B        0  input
  2     1  EXEC   spin      64.0 KiB   0 B  1234567
  3     1  WAIT   sleeper      300 B   0 B        0  sleep
  4     1  WAIT   parent         0 B   0 B        0  child 6
  5     1  WAIT   ready          0 B   0 B        0  ready
  6     4  WAIT   chan           0 B   0 B        0  chan
  7     1  DONE   hello          0 B   0 B       42  ok(0)
  8     1  DONE   bad            0 B   0 B        0  panic: unreachable
 10     1  INIT   starting       0 B   0 B        0
zb:/> ";
    assert_eq!(out, expected);
    assert!(t.type_("ps x\r").contains("ps: unexpected argument: x"));
}

#[test]
fn help_describes_the_run_commands() {
    let out = run("help\r");
    assert!(
        out.contains("  run [--allow URL]... [--kmem SIZE] <prog> [arg ...] [&]\n")
            && out.contains("start /bin/<prog> and wait (&: don't; --allow: URLs; --kmem: quota)"),
        "{out}"
    );
    assert!(out.contains("  kill <pid>"));
    assert!(out.contains("Ctrl-C cancel (or stop the foreground run)"));
    // Fits an 80-column terminal.
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    assert!(run("help wait\r").contains("usage: wait <pid>\n  wait for a run to end"));
}

#[test]
fn every_prompt_after_a_run_is_a_zb_prompt() {
    let mut t = term();
    t.type_("run hello\r");
    let out = t.exit(2, StatusKind::Ok, 0, "");
    let last = out.rsplit('\n').next().unwrap();
    assert!(last.starts_with("zb") && last.ends_with("> "), "{last:?}");
}

// ---- time ---------------------------------------------------------------------------------

/// The `time:` line for `us` microseconds on the fake 2 GHz clock.
fn time_line(us: u64) -> String {
    alloc::format!(
        "time: {}.{:03} ms ({} cycles)\n",
        us / 1000,
        us % 1000,
        us * CYCLES_PER_US
    )
}

#[test]
fn time_line_format() {
    assert_eq!(time_line(1234), "time: 1.234 ms (2468000 cycles)\n");
    let mut t = term();
    t.host.step_us = 1_234_567;
    assert_eq!(
        t.type_("time echo hi\r"),
        "time echo hi\nhi\ntime: 1234.567 ms (2469134000 cycles)\nzb:/> "
    );
}

#[test]
fn time_of_a_synchronous_command_follows_its_output() {
    let mut t = term();
    t.host.step_us = 5;
    assert_eq!(
        t.type_("time echo hi\r"),
        alloc::format!("time echo hi\nhi\n{}{PROMPT}", time_line(5))
    );
    let out = t.type_("time ps\r");
    assert!(out.starts_with("time ps\nPID  PPID"), "{out}");
    assert!(
        out.ends_with(&alloc::format!(
            "  1     0  WAIT   console  0 B   0 B    0  input\n{}{PROMPT}",
            time_line(5)
        )),
        "{out}"
    );
    // Several lines typed at once: each gets its own time.
    t.host.step_us = 0;
    assert_eq!(
        t.type_("time echo a\rtime echo b\r"),
        alloc::format!(
            "time echo a\na\n{}{PROMPT}time echo b\nb\n{}{PROMPT}",
            time_line(0),
            time_line(0)
        )
    );
}

#[test]
fn time_of_a_foreground_run_is_printed_after_its_status_line() {
    let mut t = term();
    assert_eq!(t.type_("time run hello big\r"), "time run hello big\n");
    assert_eq!(
        t.host.spawned,
        [("hello".to_string(), vec!["big".to_string()])]
    );
    t.host.advance(600);
    assert_eq!(t.output("Hello!\n"), "Hello!\n");
    t.host.advance(634);
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        alloc::format!("[2] hello: ok(0)\n{}{PROMPT}", time_line(1234))
    );
    // The timing went with the job: the next run is not timed.
    t.type_("run hello\r");
    t.host.advance(10);
    assert_eq!(t.exit(3, StatusKind::Ok, 0, ""), "[3] hello: ok(0)\nzb:/> ");
}

#[test]
fn a_timed_foreground_run_is_timed_from_before_the_spawn() {
    let mut t = term();
    // The spawn and every clock reading take 1 µs.
    t.host.step_us = 1;
    t.type_("time run spin\r");
    t.host.advance(998);
    // Read at the start (+1), at the end (+1), and 998 µs of running.
    assert_eq!(
        t.exit(2, StatusKind::Panic, 0, "unreachable"),
        alloc::format!("[2] spin: panic: unreachable\n{}{PROMPT}", time_line(999))
    );
}

#[test]
fn a_background_job_ending_meanwhile_does_not_end_the_timing() {
    let mut t = term();
    t.type_("run spin &\r");
    t.type_("time run hello\r");
    t.host.advance(100);
    assert_eq!(t.exit(2, StatusKind::Ok, 0, ""), "[2] spin: ok(0)\n");
    t.host.advance(100);
    assert_eq!(
        t.exit(3, StatusKind::Ok, 0, ""),
        alloc::format!("[3] hello: ok(0)\n{}{PROMPT}", time_line(200))
    );
}

#[test]
fn time_of_a_background_run_is_the_spawn() {
    let mut t = term();
    t.host.step_us = 3;
    assert_eq!(
        t.type_("time run spin &\r"),
        alloc::format!("time run spin &\n[2] spin\n{}{PROMPT}", time_line(3))
    );
    t.host.advance(5000);
    // Its end is announced as usual, without a time.
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        "\r\x1b[K[2] spin: ok(0)\nzb:/> "
    );
}

#[test]
fn time_of_a_run_that_fails_to_load_is_printed_at_once() {
    let mut t = term();
    assert_eq!(
        t.type_("time run broken\r"),
        alloc::format!(
            "time run broken\n[2] broken: invalid: not a wasm module\n{}{PROMPT}",
            time_line(0)
        )
    );
    assert_eq!(t.exit(2, StatusKind::Invalid, 0, "not a wasm module"), "");
}

#[test]
fn ctrl_c_on_a_timed_run_prints_the_time_after_the_kill_status() {
    // The kill ends the run later: the exit report prints status and time.
    let mut t = term();
    t.type_("time run spin\r");
    t.host.advance(700);
    assert_eq!(t.type_("\x03"), "^C\n");
    t.host.advance(300);
    assert_eq!(
        t.exit(2, StatusKind::Rejected, 0, "killed"),
        alloc::format!("[2] spin: rejected: killed\n{}{PROMPT}", time_line(1000))
    );

    // The kill ends the run at once.
    let mut t = Term::new(FakeHost {
        kill_ends_at_once: true,
        ..FakeHost::with_programs()
    });
    t.type_("time run spin\r");
    t.host.advance(42);
    assert_eq!(
        t.type_("\x03"),
        alloc::format!("^C\n[2] spin: rejected: killed\n{}{PROMPT}", time_line(42))
    );
    assert_eq!(t.exit(2, StatusKind::Rejected, 0, "killed"), "");

    // The run cannot be killed: it goes on in the background, untimed.
    let mut t = Term::new(FakeHost {
        kill_error: Some(Error::PermissionDenied),
        ..FakeHost::with_programs()
    });
    t.type_("time run spin\r");
    t.host.advance(7);
    assert_eq!(
        t.type_("\x03"),
        alloc::format!(
            "^C\nrun: cannot kill 2: permission denied; it goes on in the background\n{}{PROMPT}",
            time_line(7)
        )
    );
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        "\r\x1b[K[2] spin: ok(0)\nzb:/> "
    );
}

#[test]
fn time_wait_and_ctrl_c_out_of_it() {
    let mut t = term();
    t.type_("run spin &\r");
    t.type_("run spin &\r");
    assert_eq!(t.type_("time wait 2\r"), "time wait 2\n");
    t.host.advance(20);
    assert_eq!(
        t.exit(2, StatusKind::Ok, 0, ""),
        alloc::format!("[2] spin: ok(0)\n{}{PROMPT}", time_line(20))
    );
    t.type_("time wait 3\r");
    t.host.advance(30);
    assert_eq!(
        t.type_("\x03"),
        alloc::format!("^C\n{}{PROMPT}", time_line(30))
    );
    assert!(t.host.killed.is_empty());
    assert_eq!(
        t.exit(3, StatusKind::Ok, 0, ""),
        "\r\x1b[K[3] spin: ok(0)\nzb:/> "
    );
}

#[test]
fn a_failing_command_is_timed_too() {
    let mut t = term();
    assert_eq!(
        t.type_("time run nope\r"),
        alloc::format!(
            "time run nope\nrun: no such program: nope\n{}{PROMPT}",
            time_line(0)
        )
    );
    assert_eq!(
        t.type_("time mem extra\r"),
        alloc::format!(
            "time mem extra\nmem: unexpected argument: extra\n{}{PROMPT}",
            time_line(0)
        )
    );
    assert_eq!(
        t.type_("time wait 99\r"),
        alloc::format!(
            "time wait 99\nwait: no such run: 99\n{}{PROMPT}",
            time_line(0)
        )
    );
    assert!(t.shell.jobs().foreground().is_none());
}

#[test]
fn time_errors() {
    let mut t = term();
    assert_eq!(
        t.type_("time\r"),
        "time\ntime: usage: time <command> [arg ...]\nzb:/> "
    );
    assert_eq!(
        t.type_("time frob x\r"),
        "time frob x\ntime: unknown command: frob (try help)\nzb:/> "
    );
    let mut out = String::new();
    Shell::new().execute("time 'a\u{1b}b'", &mut FakeHost::default(), &mut out);
    assert_eq!(out, "time: unknown command: a\\u{1b}b (try help)\n");
    // Nested time is refused, whole: the inner command does not run.
    assert_eq!(
        t.type_("time time echo hi\r"),
        "time time echo hi\ntime: nested time is not supported\nzb:/> "
    );
    assert_eq!(
        t.type_("time time run hello\r"),
        "time time run hello\ntime: nested time is not supported\nzb:/> "
    );
    assert!(t.host.spawned.is_empty());
    assert!(t.shell.jobs().foreground().is_none());
    assert!(run("help time\r").contains("usage: time <command> [arg ...]\n  run a command"));
}

#[test]
fn time_reaches_the_host_clocks_through_execute() {
    // Called directly (not from the terminal): output written before `time` runs is not
    // counted, and it still reaches the terminal first.
    let mut host = FakeHost::with_programs();
    let mut out = String::from("before\n");
    host.step_us = 2;
    Shell::new().execute("time echo x", &mut host, &mut out);
    let wire = String::from_utf8(core::mem::take(&mut host.wire)).unwrap();
    assert_eq!(
        alloc::format!("{wire}{out}"),
        alloc::format!("before\nx\n{}", time_line(2))
    );
}

#[test]
fn date_shows_and_sets_the_wall_clock() {
    let out = run("date\r");
    assert!(
        out.contains("date: no real-time clock; set the time with date -s"),
        "{out}"
    );
    let out = run("date -s 2026-12-06 10:35:07\rdate\r");
    assert!(
        out.contains("\n2026-12-06 10:35:07 UTC\nzb:/> date\n2026-12-06 10:35:07 UTC\n"),
        "{out}"
    );
    let out = run("date -s 2026-02-30 10:00\r");
    assert!(
        out.contains(
            "date: \"2026-02-30 10:00\" is not a date and time (YYYY-MM-DD HH:MM[:SS], UTC)"
        ),
        "{out}"
    );
    assert!(run("date now\r").contains("usage: date"));
}

#[test]
fn scan_and_seal_ask_the_kernel_without_starting_a_run() {
    let out = run("scan ledger.balances alice\r");
    assert!(
        out.contains("\n{\"account\":\"alice\",\"balance\":10}\nzb:/> "),
        "{out}"
    );
    let out = run("scan ledger.balances bob\r");
    assert!(
        out.contains(
            "scan: no such file or directory: view ledger.balances has nothing for \"bob\""
        ),
        "{out}"
    );
    assert!(
        run("scan nope x\r").contains("scan: no such file or directory: no view named \"nope\"")
    );
    assert!(run("scan ledger.balances\r").contains("usage: scan"));
    let out = run("seal ledger.balances\r");
    assert!(out.contains("\nsealed ledger.balances at 7\n"), "{out}");
    assert!(run("seal\r").contains("usage: seal"));
    // Their answers can go to a file.
    let mut h = FakeHost::with_programs();
    let out = session(&mut h, "scan ledger.balances alice > /data/a\r");
    assert!(
        !out.contains("not supported") && !out.contains("\"balance\""),
        "{out}"
    );
    assert!(
        h.files.values().any(|d| d.starts_with(b"{\"account\"")),
        "{:?}",
        h.files.keys()
    );
}

#[test]
fn df_and_mount_read_the_mount_table() {
    let mut host = FakeHost::with_programs();
    host.dirs.push("/etc".into());
    host.files.insert(
        "/etc/mtab".into(),
        b"bootfs / ramfs ro 0 0\n- /tmp ramfs rw 0 0\nvirtio-blk /data fat16 rw 0 0\n".to_vec(),
    );
    assert_eq!(
        session(&mut host, "mount\r"),
        "zb:/> mount\nbootfs on / type ramfs (ro)\n- on /tmp type ramfs (rw)\n\
         virtio-blk on /data type fat16 (rw)\nzb:/> "
    );
    assert_eq!(
        session(&mut host, "df\r"),
        "zb:/> df\n\
         MOUNT               SIZE        USED        FREE  TYPE\n\
         /               50.8 KiB    50.8 KiB         0 B  ramfs\n\
         /tmp             8.0 MiB     2.9 KiB     8.0 MiB  ramfs\n\
         /data         data corrupt\n\
         zb:/> "
    );
    // No table: said once, as the command's error.
    host.files.remove("/etc/mtab");
    assert_eq!(
        session(&mut host, "df\r"),
        "zb:/> df\nMOUNT               SIZE        USED        FREE  TYPE\n\
         df: no mount table: no such file or directory\nzb:/> "
    );
}
