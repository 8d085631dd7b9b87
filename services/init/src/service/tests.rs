//! The init service against a fake host: a scripted clock, recorded spawns and log lines, a
//! fixed list of services.

extern crate std;

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use zb_abi::kind::KindId;
use zb_abi::{Admin, Bus, Console, Error, ExitView, Files, MemInfo, Schemes, SysInfo};

use super::*;

const MS: u64 = 1_000;

/// The boot image's manifest.
const BOOT_MANIFEST: &str = include_str!("../../../../userspace/programs/rootfs/etc/init.manifest");

#[derive(Debug, Clone, PartialEq, Eq)]
struct Spawned {
    name: String,
    args: Vec<String>,
    allow: Option<Vec<String>>,
    memory: Option<usize>,
    pid: Pid,
    at_us: u64,
}

struct Fake {
    now: u64,
    archive: &'static [u8],
    services: Vec<(&'static str, Pid, StateName)>,
    spawned: Vec<Spawned>,
    /// Programs whose spawn fails, with the error.
    failing: Vec<(&'static str, Error)>,
    next_pid: Pid,
    log: Vec<String>,
    kinds: Vec<(KindId, &'static str)>,
    /// Event watches registered, in order (a watch's number is its index).
    watches: Vec<String>,
}

impl Fake {
    fn new(archive: &'static [u8]) -> Fake {
        Fake {
            now: 0,
            archive,
            services: vec![
                ("console", 1, StateName::Wait),
                ("vfs", 2, StateName::Wait),
                ("init", 3, StateName::Exec),
            ],
            spawned: Vec::new(),
            failing: Vec::new(),
            next_pid: 10,
            log: Vec::new(),
            kinds: Vec::new(),
            watches: Vec::new(),
        }
    }

    fn with_manifest(text: &str) -> Fake {
        Fake::new(archive(&[
            ("/bin/x", b"\0asm"),
            (MANIFEST_PATH, text.as_bytes()),
        ]))
    }

    /// The log lines since the last call.
    fn take_log(&mut self) -> Vec<String> {
        core::mem::take(&mut self.log)
    }

    fn last_pid(&self) -> Pid {
        self.spawned.last().map_or(0, |s| s.pid)
    }
}

impl Console for Fake {
    fn console_write(&mut self, _bytes: &[u8]) {
        panic!("init writes to the log, not the console");
    }
}

impl System for Fake {
    fn log(&mut self, line: &str) {
        assert!(!line.contains('\n'), "{line:?}");
        self.log.push(line.to_owned());
    }
    fn clock_us(&self) -> u64 {
        self.now
    }
    fn cycles(&self) -> u64 {
        self.now
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: "test",
            platform: "test",
            machine: "test",
            profile: "debug",
            boot_us: 0,
        }
    }
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
    fn boot_archive(&self) -> &'static [u8] {
        self.archive
    }
}

impl Runs for Fake {
    fn spawn_with(
        &mut self,
        name: &str,
        args: &[&str],
        options: &SpawnOptions<'_>,
    ) -> Result<Pid, Error> {
        if let Some((_, e)) = self.failing.iter().find(|(n, _)| *n == name) {
            return Err(*e);
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        self.spawned.push(Spawned {
            name: name.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            allow: options
                .allow
                .map(|l| l.iter().map(|a| a.to_string()).collect()),
            memory: options.memory,
            pid,
            at_us: self.now,
        });
        Ok(pid)
    }
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        for &(name, pid, state) in &self.services {
            visit(&RunInfo {
                pid,
                parent: 0,
                kind: RunKind::Service,
                name,
                state,
                wait: None,
                memory: 0,
                fuel: 0,
                exit: None,
            });
        }
    }
}

impl Bus for Fake {
    fn watch_events(&mut self, pattern: &str) -> Result<u32, Error> {
        if pattern.contains("refused") {
            return Err(Error::InvalidArgument);
        }
        self.watches.push(pattern.to_string());
        Ok(self.watches.len() as u32 - 1)
    }
}

impl Schemes for Fake {
    fn register_kind(&mut self, kind: KindId, name: &'static str) {
        self.kinds.push((kind, name));
    }
}

// init opens no files and does not control the machine.
impl Files for Fake {}
impl Admin for Fake {}

/// A boot archive holding `files` (leaked: the host hands out `'static` bytes).
fn archive(files: &[(&str, &[u8])]) -> &'static [u8] {
    let mut out = Vec::from(zb_abi::bootfs::MAGIC);
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (path, data) in files {
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(data);
    }
    Box::leak(out.into_boxed_slice())
}

fn exit_with(
    init: &mut InitService,
    host: &mut Fake,
    pid: Pid,
    kind: StatusKind,
    code: i32,
    message: &str,
) {
    let info = RunInfo {
        pid,
        parent: 3,
        kind: RunKind::Wasm,
        name: "whatever",
        state: StateName::Done,
        wait: None,
        memory: 0,
        fuel: 0,
        exit: Some(ExitView {
            kind,
            code,
            message,
        }),
    };
    init.run_exited(&info, host);
}

/// Run `pid` exits with `ok(code)` at the host's current time.
fn exit(init: &mut InitService, host: &mut Fake, pid: Pid, code: i32) {
    exit_with(init, host, pid, StatusKind::Ok, code, "");
}

/// Moves the clock to init's next deadline and ticks; returns that time.
fn advance(init: &mut InitService, host: &mut Fake) -> u64 {
    let Some(t) = init.next_tick() else {
        panic!("no restart scheduled; log: {:?}", host.log)
    };
    assert!(t >= host.now, "a deadline in the past: {t} < {}", host.now);
    host.now = t;
    init.tick(host);
    t
}

fn started(text: &str) -> (InitService, Fake) {
    let mut host = Fake::with_manifest(text);
    let mut init = InitService::new();
    init.start(&mut host);
    (init, host)
}

#[test]
fn starts_services_then_runs_in_order_with_their_settings() {
    let text = "\
service console
service net
service vfs

run ledger
  args --strict \"--label=main ledger\"
  allow file:///data/ledger
  allow console://stdout console://stderr
  memory 64K
  restart on-failure

run motd
";
    let (init, mut host) = started(text);
    assert_eq!(host.kinds, [(kinds::INIT, "init")]);
    assert_eq!(init.name(), "init");
    assert_eq!(
        host.take_log(),
        [
            "init: service console: running (pid 1)",
            "init: service net: not in this image",
            "init: service vfs: running (pid 2)",
            "init: started ledger (pid 10)",
            "init: started motd (pid 11)",
        ]
    );
    assert_eq!(
        host.spawned,
        [
            Spawned {
                name: "ledger".into(),
                args: vec!["--strict".into(), "--label=main ledger".into()],
                allow: Some(vec![
                    "file:///data/ledger".into(),
                    "console://stdout".into(),
                    "console://stderr".into()
                ]),
                memory: Some(65536),
                pid: 10,
                at_us: 0,
            },
            // Without allow lines a run can open nothing: an empty grant list, not "all".
            Spawned {
                name: "motd".into(),
                args: vec![],
                allow: Some(vec![]),
                memory: None,
                pid: 11,
                at_us: 0,
            },
        ]
    );
    assert_eq!(init.pid_of("ledger"), Some(10));
    assert_eq!(init.pid_of("nope"), None);
    assert_eq!(init.next_tick(), None);
}

#[test]
fn a_stopped_service_is_reported() {
    let mut host = Fake::with_manifest("service vfs");
    host.services[1].2 = StateName::Done;
    InitService::new().start(&mut host);
    assert_eq!(host.take_log(), ["init: service vfs: stopped (pid 2)"]);
}

#[test]
fn a_bad_manifest_logs_its_line_and_starts_nothing() {
    let text = "service console\nservice vfs\n\nrun ledger-cmd\n  args --strict\n  memory 64K\n  restart sometimes\n";
    let (init, mut host) = started(text);
    assert_eq!(
        host.take_log(),
        [
            "init: /etc/init.manifest: manifest line 7: unknown restart policy \"sometimes\" (expected never, on-failure or always)"
        ]
    );
    assert!(host.spawned.is_empty());
    assert_eq!(init.next_tick(), None);

    // Not UTF-8, and control characters in the quoted text: still one clean line.
    let mut host = Fake::new(archive(&[(MANIFEST_PATH, b"run a\n  args \xff")]));
    InitService::new().start(&mut host);
    assert_eq!(
        host.take_log(),
        ["init: /etc/init.manifest: manifest line 2: not valid UTF-8"]
    );
    let mut host = Fake::with_manifest("run a\n  colour \u{1b}[31mred");
    InitService::new().start(&mut host);
    let log = host.take_log();
    assert_eq!(log.len(), 1);
    assert!(log[0].starts_with("init: /etc/init.manifest: manifest line 2: unknown run property"));
    assert!(!log[0].chars().any(char::is_control), "{log:?}");
}

#[test]
fn no_manifest_starts_nothing() {
    for archive in [
        &[][..],
        archive(&[("/etc/motd", b"hi\n")]),
        archive(&[("/etc/init.manifest.bak", b"run x\n")]),
    ] {
        let mut host = Fake::new(archive);
        let mut init = InitService::new();
        init.start(&mut host);
        assert_eq!(
            host.take_log(),
            ["init: no /etc/init.manifest; nothing to start"]
        );
        assert!(host.spawned.is_empty());
        assert_eq!(host.kinds, [(kinds::INIT, "init")]);
        assert_eq!(init.next_tick(), None);
        init.tick(&mut host);
        assert!(host.take_log().is_empty());
    }
    let mut host = Fake::new(b"ZBFS1\0garbage");
    InitService::new().start(&mut host);
    assert_eq!(
        host.take_log(),
        ["init: boot archive unreadable (data corrupt); nothing to start"]
    );
}

#[test]
fn an_empty_manifest_is_quiet() {
    let (init, mut host) = started("# nothing yet\n");
    assert!(host.take_log().is_empty());
    assert!(host.spawned.is_empty());
    assert_eq!(init.next_tick(), None);
}

#[test]
fn start_runs_once() {
    let (mut init, mut host) = started("run a");
    init.start(&mut host);
    assert_eq!(host.spawned.len(), 1);
    assert_eq!(host.kinds.len(), 1);
}

#[test]
fn on_failure_restarts_with_doubling_backoff() {
    let (mut init, mut host) = started(
        "run f\n  args --retry\n  allow file:///tmp\n  memory 1M\n  restart on-failure\n  backoff 10ms..40ms\n  limit 10 per 60s\n",
    );
    assert_eq!(host.take_log(), ["init: started f (pid 10)"]);

    host.now = MS;
    exit(&mut init, &mut host, 10, 1);
    assert_eq!(
        host.take_log(),
        ["init: f (pid 10) ended: ok(1); restarting in 10 ms"]
    );
    assert_eq!(init.next_tick(), Some(11 * MS));
    assert_eq!(init.pid_of("f"), None);

    // A tick before the deadline starts nothing.
    host.now = 5 * MS;
    init.tick(&mut host);
    assert_eq!(host.spawned.len(), 1);
    assert!(host.take_log().is_empty());

    let mut waits = Vec::new();
    for k in 1..=5u32 {
        let t = advance(&mut init, &mut host);
        let pid = host.last_pid();
        assert_eq!(
            host.take_log(),
            [format!("init: restarted f (pid {pid}), restart #{k}")]
        );
        assert_eq!(init.pid_of("f"), Some(pid));
        assert_eq!(init.next_tick(), None);
        host.now = t + MS;
        exit(&mut init, &mut host, pid, 2);
        waits.push(init.next_tick().map(|d| d - host.now));
        host.take_log();
    }
    // 10 ms first (above), then 20, 40, capped at 40.
    assert_eq!(
        waits,
        [
            Some(20 * MS),
            Some(40 * MS),
            Some(40 * MS),
            Some(40 * MS),
            Some(40 * MS)
        ]
    );
    // Every restart with the same settings.
    for s in &host.spawned {
        assert_eq!(s.args, ["--retry"]);
        assert_eq!(s.allow.as_deref(), Some(&["file:///tmp".to_string()][..]));
        assert_eq!(s.memory, Some(1 << 20));
    }

    // A clean exit ends it under on-failure.
    advance(&mut init, &mut host);
    let pid = host.last_pid();
    host.take_log();
    exit(&mut init, &mut host, pid, 0);
    assert_eq!(
        host.take_log(),
        [format!(
            "init: f (pid {pid}) ended: ok(0); not restarted (policy on-failure)"
        )]
    );
    assert_eq!(init.next_tick(), None);
}

#[test]
fn traps_and_rejections_are_failures() {
    let (mut init, mut host) = started("run f\n  restart on-failure\n");
    host.take_log();
    exit_with(
        &mut init,
        &mut host,
        10,
        StatusKind::Panic,
        0,
        "unreachable\nsecond line",
    );
    assert_eq!(
        host.take_log(),
        ["init: f (pid 10) ended: panic: unreachable?second line; restarting in 100 ms"]
    );
    advance(&mut init, &mut host);
    host.take_log();
    exit_with(
        &mut init,
        &mut host,
        11,
        StatusKind::Rejected,
        0,
        &"x".repeat(1000),
    );
    let log = host.take_log();
    assert_eq!(log.len(), 1);
    assert!(log[0].starts_with("init: f (pid 11) ended: rejected: xxx"));
    assert!(log[0].ends_with("..."));
    assert!(log[0].len() <= MAX_LOG_LINE);
    assert_eq!(init.next_tick(), Some(host.now + 200 * MS));
}

#[test]
fn always_restarts_a_clean_exit() {
    let (mut init, mut host) = started("run a\n  restart always\n  backoff 1s\n");
    host.take_log();
    exit(&mut init, &mut host, 10, 0);
    assert_eq!(
        host.take_log(),
        ["init: a (pid 10) ended: ok(0); restarting in 1 s"]
    );
    assert_eq!(advance(&mut init, &mut host), 1_000_000);
    assert_eq!(host.take_log(), ["init: restarted a (pid 11), restart #1"]);
}

#[test]
fn never_does_not_restart() {
    let (mut init, mut host) = started("run a\nrun b\n  restart never\n");
    host.take_log();
    exit(&mut init, &mut host, 10, 3);
    exit(&mut init, &mut host, 11, 0);
    assert_eq!(
        host.take_log(),
        [
            "init: a (pid 10) ended: ok(3); not restarted (policy never)",
            "init: b (pid 11) ended: ok(0); not restarted (policy never)",
        ]
    );
    assert_eq!(init.next_tick(), None);
    assert_eq!(host.spawned.len(), 2);
}

#[test]
fn the_boot_manifest_gives_up_on_flaky_after_three_restarts() {
    let (mut init, mut host) = started(BOOT_MANIFEST);
    assert_eq!(
        host.take_log(),
        [
            "init: service console: running (pid 1)",
            "init: service vfs: running (pid 2)",
            "init: started flaky (pid 10)",
            "init: ledger starts on ledger.transfer.requested events",
            "init: started ledger (pid 11)",
        ]
    );
    assert_eq!(host.watches, ["ledger.transfer.requested"]);
    assert_eq!(host.spawned[0].allow, Some(vec![]));
    assert!(host.spawned[0].args.is_empty());
    // flaky fails 1 ms after each start.
    host.now = MS;
    exit(&mut init, &mut host, 10, 1);
    for _ in 0..3 {
        let t = advance(&mut init, &mut host);
        host.now = t + MS;
        let pid = host.last_pid();
        exit(&mut init, &mut host, pid, 1);
    }
    assert_eq!(
        host.take_log(),
        [
            "init: flaky (pid 10) ended: ok(1); restarting in 10 ms",
            "init: restarted flaky (pid 12), restart #1",
            "init: flaky (pid 12) ended: ok(1); restarting in 20 ms",
            "init: restarted flaky (pid 13), restart #2",
            "init: flaky (pid 13) ended: ok(1); restarting in 40 ms",
            "init: restarted flaky (pid 14), restart #3",
            "init: flaky (pid 14) ended: ok(1)",
            "init: flaky: giving up: restarted 3 times in 73ms (limit 3 per 1m)",
        ]
    );
    assert_eq!(host.now, 74 * MS);
    assert_eq!(init.next_tick(), None);
    assert_eq!(host.spawned.len(), 5);
    // Its pid is forgotten: a late duplicate report changes nothing.
    exit(&mut init, &mut host, 14, 1);
    assert!(host.take_log().is_empty());
}

#[test]
fn exits_of_other_runs_are_ignored() {
    let (mut init, mut host) = started("run a\n  restart always\n");
    host.take_log();
    exit(&mut init, &mut host, 99, 1);
    exit(&mut init, &mut host, 3, 1);
    // A service with a pid init started would be a kernel bug; it is not mistaken for a run.
    let service = RunInfo {
        pid: 10,
        parent: 0,
        kind: RunKind::Service,
        name: "a",
        state: StateName::Done,
        wait: None,
        memory: 0,
        fuel: 0,
        exit: None,
    };
    init.run_exited(&service, &mut host);
    assert!(host.take_log().is_empty());
    assert_eq!(init.next_tick(), None);
    assert_eq!(init.pid_of("a"), Some(10));
}

#[test]
fn an_exit_without_a_status_is_a_failure() {
    let (mut init, mut host) = started("run a\n  restart on-failure\n");
    host.take_log();
    let info = RunInfo {
        pid: 10,
        parent: 3,
        kind: RunKind::Wasm,
        name: "a",
        state: StateName::Done,
        wait: None,
        memory: 0,
        fuel: 0,
        exit: None,
    };
    init.run_exited(&info, &mut host);
    assert_eq!(
        host.take_log(),
        ["init: a (pid 10) ended: unknown status; restarting in 100 ms"]
    );
}

#[test]
fn a_spawn_failure_counts_as_a_failure() {
    let mut host = Fake::with_manifest(
        "run missing\n  restart on-failure\n  backoff 10ms\n  limit 2 per 1s\nrun once\nrun ok\n",
    );
    host.failing = vec![("missing", Error::NotFound), ("once", Error::OutOfMemory)];
    let mut init = InitService::new();
    init.start(&mut host);
    assert_eq!(
        host.take_log(),
        [
            "init: cannot start missing: no such file or directory; restarting in 10 ms",
            "init: cannot start once: out of memory; not restarted (policy never)",
            "init: started ok (pid 10)",
        ]
    );
    advance(&mut init, &mut host);
    advance(&mut init, &mut host);
    assert_eq!(
        host.take_log(),
        [
            "init: cannot restart missing (restart #1): no such file or directory; restarting in 10 ms",
            "init: cannot restart missing (restart #2): no such file or directory",
            "init: missing: giving up: restarted 2 times in 20ms (limit 2 per 1s)",
        ]
    );
    assert_eq!(init.next_tick(), None);

    // A program that starts failing on a restart, then works again.
    let mut host = Fake::with_manifest("run a\n  restart always\n  backoff 10ms\n");
    let mut init = InitService::new();
    init.start(&mut host);
    host.failing = vec![("a", Error::OutOfMemory)];
    exit(&mut init, &mut host, 10, 0);
    advance(&mut init, &mut host);
    host.failing.clear();
    advance(&mut init, &mut host);
    assert_eq!(
        host.take_log(),
        [
            "init: started a (pid 10)",
            "init: a (pid 10) ended: ok(0); restarting in 10 ms",
            "init: cannot restart a (restart #1): out of memory; restarting in 10 ms",
            "init: restarted a (pid 11), restart #2",
        ]
    );
}

#[test]
fn due_restarts_start_in_one_tick_and_the_earliest_deadline_comes_first() {
    let (mut init, mut host) = started(
        "run a\n  restart always\n  backoff 30ms\nrun b\n  restart always\n  backoff 10ms\n",
    );
    host.take_log();
    exit(&mut init, &mut host, 10, 0);
    exit(&mut init, &mut host, 11, 0);
    assert_eq!(advance(&mut init, &mut host), 10 * MS);
    assert_eq!(init.pid_of("b"), Some(12));
    assert_eq!(init.next_tick(), Some(30 * MS));
    // A late tick starts everything due.
    exit(&mut init, &mut host, 12, 0);
    host.now = 100 * MS;
    init.tick(&mut host);
    assert_eq!(init.pid_of("a"), Some(13));
    assert_eq!(init.pid_of("b"), Some(14));
    assert_eq!(init.next_tick(), None);
}

#[test]
fn a_huge_memory_limit_saturates() {
    let (_, host) = started("run a\n  memory 4G\n");
    let want = usize::try_from(4u64 << 30).unwrap_or(usize::MAX);
    assert_eq!(host.spawned[0].memory, Some(want));
}

#[test]
fn wait_display() {
    for (us, s) in [
        (0, "0 ms"),
        (250, "250 us"),
        (10 * MS, "10 ms"),
        (1500 * MS, "1500 ms"),
        (2_000_000, "2 s"),
    ] {
        assert_eq!(format!("{}", Wait(us)), s);
    }
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_events_never_panic() {
    let text = "run a\n  restart always\n  backoff 1ms..1h\n  limit 1000 per 24h\nrun b\n  restart on-failure\n  backoff 1ms\n  limit 3 per 10ms\nrun c\n";
    let mut rng = Rng(7);
    for _ in 0..200 {
        let (mut init, mut host) = started(text);
        for _ in 0..100 {
            match rng.next() % 6 {
                // Clocks that jump, stall and even go backwards.
                0 => host.now = rng.next() % (u64::MAX / 2),
                1 => host.now = host.now.saturating_add(rng.next() % (100 * MS)),
                2 => init.tick(&mut host),
                3 => {
                    let pid = 9 + (rng.next() % 30) as Pid;
                    let kind = [
                        StatusKind::Ok,
                        StatusKind::Panic,
                        StatusKind::Invalid,
                        StatusKind::Rejected,
                    ][(rng.next() % 4) as usize];
                    exit_with(
                        &mut init,
                        &mut host,
                        pid,
                        kind,
                        (rng.next() % 3) as i32,
                        "m",
                    );
                }
                4 => {
                    host.failing = if rng.next() % 2 == 0 {
                        vec![("a", Error::OutOfMemory), ("b", Error::NotFound)]
                    } else {
                        vec![]
                    }
                }
                _ => {
                    if let Some(t) = init.next_tick() {
                        host.now = host.now.max(t);
                        init.tick(&mut host);
                    }
                }
            }
        }
        for line in &host.log {
            assert!(
                line.starts_with("init: ") && line.len() <= MAX_LOG_LINE,
                "{line}"
            );
        }
    }
}

#[test]
fn a_start_on_run_starts_at_boot_and_again_on_events_while_it_is_down() {
    let (mut init, mut host) =
        started("run h\n  start-on orders.>\n  restart on-failure\n  limit 2 per 60s\nrun x\n");
    assert_eq!(host.watches, ["orders.>"]);
    assert_eq!(
        host.take_log(),
        [
            "init: h starts on orders.> events",
            "init: started h (pid 10)",
            "init: started x (pid 11)",
        ]
    );
    // Events while it runs: it starts again as soon as it ends (cleanly).
    init.events_committed(0, &mut host);
    assert_eq!(host.spawned.len(), 2);
    host.now = MS;
    exit(&mut init, &mut host, 10, 0);
    assert_eq!(
        host.take_log(),
        [
            "init: h (pid 10) ended: ok(0); starting it again for new orders.> events",
            "init: started h (pid 12)",
        ]
    );
    // Nothing new while it ran: it stays down until the next events.
    exit(&mut init, &mut host, 12, 0);
    assert_eq!(
        host.take_log(),
        ["init: h (pid 12) ended: ok(0); starts again on orders.> events"]
    );
    assert_eq!(init.pid_of("h"), None);
    assert_eq!(init.next_tick(), None);
    init.events_committed(0, &mut host);
    assert_eq!(host.take_log(), ["init: started h (pid 13)"]);
    // Another watch's number, or one init never got, starts nothing.
    init.events_committed(7, &mut host);
    assert_eq!(host.spawned.len(), 4);
    // A failure goes through the restart policy; events during the backoff wait for it.
    exit(&mut init, &mut host, 13, 1);
    assert_eq!(
        host.take_log(),
        ["init: h (pid 13) ended: ok(1); restarting in 100 ms"]
    );
    init.events_committed(0, &mut host);
    assert_eq!(host.spawned.len(), 4, "not before its backoff");
    advance(&mut init, &mut host);
    assert_eq!(host.take_log(), ["init: restarted h (pid 14), restart #1"]);
    // Once init gives up on it, events do not start it until its window (60 s) has passed.
    exit(&mut init, &mut host, 14, 1);
    advance(&mut init, &mut host);
    exit(&mut init, &mut host, 15, 1);
    let log = host.take_log();
    assert!(log.iter().any(|l| l.contains("giving up")), "{log:?}");
    init.events_committed(0, &mut host);
    host.now += 59_000 * MS;
    init.events_committed(0, &mut host);
    assert_eq!(host.spawned.len(), 6);
    assert!(host.take_log().is_empty());
    host.now += 1_000 * MS;
    init.events_committed(0, &mut host);
    assert_eq!(
        host.take_log(),
        [
            "init: h: trying again for new events",
            "init: started h (pid 16)"
        ]
    );
}

#[test]
fn a_start_on_watch_the_kernel_refuses_leaves_the_boot_start() {
    let (init, mut host) = started("run h\n  start-on refused.x\n");
    assert_eq!(
        host.take_log(),
        [
            "init: h: cannot watch refused.x events (invalid argument); started at boot only",
            "init: started h (pid 10)",
        ]
    );
    assert_eq!(init.pid_of("h"), Some(10));
}
