//! The init service: reads `/etc/init.manifest` from the boot archive, checks the services it
//! lists, starts its runs and restarts them per their policy (DESIGN.md §5).
//!
//! - [`NativeService::start`] registers the `init` kind, reads and parses the manifest (none,
//!   or one that does not parse: logged, nothing started), checks each `service` entry against
//!   the running services (services are compiled into the image; init cannot start them), then
//!   starts each `run` entry with its arguments, grants and memory limit.
//! - [`NativeService::run_exited`] feeds the exit of a run init started to that run's
//!   [`RestartState`], and logs the exit and the decision. Exits of other runs are ignored.
//! - A restart waits its backoff: init keeps a deadline per run, [`NativeService::next_tick`]
//!   is the earliest and [`NativeService::tick`] starts what is due.
//! - A run with `start-on PATTERN` is started at boot like the others, and again whenever
//!   events matching PATTERN are committed while it is not running
//!   ([`NativeService::events_committed`], through a watch registered with
//!   [`zb_abi::Bus::watch_events`]); events that come while it runs start it again when it ends. A
//!   clean exit of such a run is its normal end (its restart history starts over); failures
//!   go through its restart policy as usual, and once init gives up, events start it again
//!   only after the policy's rate-limit window has passed.
//!
//! A spawn that fails counts as a failed exit (so a missing program under `on-failure` is
//! retried with backoff until the rate limit gives up on it).
//!
//! Every start, exit, restart and give-up is one line of the system log, prefixed `init: `.
//! Log lines never contain control characters and are cut to [`MAX_LOG_LINE`] bytes, whatever
//! a run's exit message holds. Nothing a manifest or a run does can make init panic.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use zb_abi::bootfs::BootFs;
use zb_abi::kind::kinds;
use zb_abi::syscall::StatusKind;
use zb_abi::{Host, NativeService, Pid, RunInfo, RunKind, Runs, SpawnOptions, StateName, System};

use crate::manifest::{Manifest, RunSpec};
use crate::restart::{Decision, Exit, RestartState};

/// Where init finds its manifest in the boot archive.
pub const MANIFEST_PATH: &str = "/etc/init.manifest";

/// Longest log line init writes, in bytes (longer ones are cut, ending in `...`).
pub const MAX_LOG_LINE: usize = 240;

/// One `run` entry under supervision.
struct Supervised {
    spec: RunSpec,
    state: RestartState,
    /// The live incarnation, if one is running.
    pid: Option<Pid>,
    /// When a restart is due (µs since boot), if one is scheduled.
    due_us: Option<u64>,
    /// Restarts attempted so far.
    restarts: u32,
    /// The watch that starts it (`start-on`), once registered.
    watch: Option<u32>,
    /// Matching events were committed while it ran: start it again when it ends.
    again: bool,
    /// When init gave up on it (its restart limit), if it did: events do not start it again
    /// until the limit's window has passed since.
    gave_up_us: Option<u64>,
}

/// The init service. Construct with [`InitService::new`]; the kernel calls `start`.
#[derive(Default)]
pub struct InitService {
    runs: Vec<Supervised>,
    started: bool,
}

impl InitService {
    pub fn new() -> Self {
        InitService::default()
    }

    /// The pid of the live incarnation of run `name`, if it is running.
    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.runs
            .iter()
            .find(|r| r.spec.name == name)
            .and_then(|r| r.pid)
    }

    /// Registers run `i`'s `start-on` watch, if it has one.
    fn watch(&mut self, i: usize, host: &mut dyn Host) {
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        let Some(pattern) = run.spec.start_on.as_deref() else {
            return;
        };
        match host.watch_events(pattern) {
            Ok(watch) => {
                run.watch = Some(watch);
                let name = &run.spec.name;
                log(host, format_args!("{name} starts on {pattern} events"));
            }
            Err(e) => {
                let name = &run.spec.name;
                log(
                    host,
                    format_args!(
                        "{name}: cannot watch {pattern} events ({e}); started at boot only"
                    ),
                );
            }
        }
    }

    /// Starts run `i`: its first start, or a restart.
    fn launch(&mut self, i: usize, restart: bool, host: &mut dyn Host) {
        let now = host.clock_us();
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        let number = if restart {
            run.restarts = run.restarts.saturating_add(1);
            Some(run.restarts)
        } else {
            None
        };
        match spawn(&run.spec, host) {
            Ok(pid) => {
                run.pid = Some(pid);
                run.state.started(now);
                let name = &run.spec.name;
                match number {
                    Some(k) => log(
                        host,
                        format_args!("restarted {name} (pid {pid}), restart #{k}"),
                    ),
                    None => log(host, format_args!("started {name} (pid {pid})")),
                }
            }
            Err(e) => {
                let name = &run.spec.name;
                let head = match number {
                    Some(k) => format!("cannot restart {name} (restart #{k}): {e}"),
                    None => format!("cannot start {name}: {e}"),
                };
                self.decide(i, Exit::Failure, now, &head, host);
            }
        }
    }

    /// Run `i` ended (or could not be started) at `now`: asks its restart state what next and
    /// logs `head` with the decision.
    fn decide(&mut self, i: usize, exit: Exit, now: u64, head: &str, host: &mut dyn Host) {
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        match run.state.exited(now, exit) {
            Decision::Restart { after_us } => {
                run.due_us = Some(now.saturating_add(after_us));
                log(
                    host,
                    format_args!("{head}; restarting in {}", Wait(after_us)),
                );
            }
            Decision::Done if run.watch.is_some() => {
                // The normal end of a run started by events: ready for the next ones.
                run.state.reset();
                let pattern = run.spec.start_on.as_deref().unwrap_or_default();
                if core::mem::take(&mut run.again) {
                    log(
                        host,
                        format_args!("{head}; starting it again for new {pattern} events"),
                    );
                    self.launch(i, false, host);
                } else {
                    log(
                        host,
                        format_args!("{head}; starts again on {pattern} events"),
                    );
                }
            }
            Decision::Done => {
                let mode = run.state.policy().mode;
                log(host, format_args!("{head}; not restarted (policy {mode})"));
            }
            Decision::GiveUp { reason } => {
                run.gave_up_us = Some(now);
                log(host, format_args!("{head}"));
                log(host, format_args!("{}: giving up: {reason}", run.spec.name));
            }
        }
    }
}

impl NativeService for InitService {
    fn name(&self) -> &'static str {
        "init"
    }

    fn start(&mut self, host: &mut dyn Host) {
        if self.started {
            return;
        }
        self.started = true;
        host.register_kind(kinds::INIT, "init");
        let Some(manifest) = read_manifest(host) else {
            return;
        };
        check_services(&manifest.services, host);
        let platform = host.sysinfo().platform;
        self.runs = manifest
            .runs
            .into_iter()
            .filter(|spec| {
                spec.platforms.is_empty() || spec.platforms.iter().any(|p| p == platform)
            })
            .map(|spec| Supervised {
                state: RestartState::new(spec.restart),
                spec,
                pid: None,
                due_us: None,
                restarts: 0,
                watch: None,
                again: false,
                gave_up_us: None,
            })
            .collect();
        for i in 0..self.runs.len() {
            self.watch(i, host);
            self.launch(i, false, host);
        }
    }

    fn events_committed(&mut self, watch: u32, host: &mut dyn Host) {
        let Some(i) = self.runs.iter().position(|r| r.watch == Some(watch)) else {
            return;
        };
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        if run.pid.is_some() {
            run.again = true;
            return;
        }
        if run.due_us.is_some() {
            return;
        }
        if let Some(at) = run.gave_up_us {
            // A run started by events gets another chance once its restart window has passed
            // (what made it fail, such as a full heap, may be gone); before that, events wait.
            let now = host.clock_us();
            if now.saturating_sub(at) < run.spec.restart.limit.window_us {
                return;
            }
            run.gave_up_us = None;
            run.state.reset();
            let name = &run.spec.name;
            log(host, format_args!("{name}: trying again for new events"));
        }
        self.launch(i, false, host);
    }

    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        let _ = (bytes, host);
    }

    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        if run.kind != RunKind::Wasm {
            return;
        }
        let Some(i) = self.runs.iter().position(|r| r.pid == Some(run.pid)) else {
            return;
        };
        let now = host.clock_us();
        let (exit, status) = match &run.exit {
            Some(view) => {
                let clean = view.kind == StatusKind::Ok && view.code == 0;
                let exit = if clean { Exit::Ok } else { Exit::Failure };
                (exit, format!("{view}"))
            }
            // The kernel always sets an exit for an ended run; without one, assume the worst.
            None => (Exit::Failure, String::from("unknown status")),
        };
        let head = match self.runs.get_mut(i) {
            Some(r) => {
                r.pid = None;
                format!("{} (pid {}) ended: {}", r.spec.name, run.pid, status)
            }
            None => return,
        };
        self.decide(i, exit, now, &head, host);
    }

    fn next_tick(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.due_us).min()
    }

    fn tick(&mut self, host: &mut dyn Host) {
        let now = host.clock_us();
        for i in 0..self.runs.len() {
            let due = self.runs.get(i).and_then(|r| r.due_us);
            if due.is_some_and(|t| t <= now) {
                if let Some(r) = self.runs.get_mut(i) {
                    r.due_us = None;
                }
                self.launch(i, true, host);
            }
        }
    }
}

/// Reads and parses the manifest; logs why not and returns `None` if there is none to follow.
fn read_manifest(host: &mut dyn System) -> Option<Manifest> {
    let archive = host.boot_archive();
    let bytes = if archive.is_empty() {
        None
    } else {
        match BootFs::parse(archive) {
            Ok(fs) => fs.get(MANIFEST_PATH),
            Err(e) => {
                log(
                    host,
                    format_args!("boot archive unreadable ({e}); nothing to start"),
                );
                return None;
            }
        }
    };
    let Some(bytes) = bytes else {
        log(host, format_args!("no {MANIFEST_PATH}; nothing to start"));
        return None;
    };
    match Manifest::parse_bytes(bytes) {
        Ok(manifest) => Some(manifest),
        Err(e) => {
            log(host, format_args!("{MANIFEST_PATH}: {e}"));
            None
        }
    }
}

/// Logs, for each listed service, whether it runs in this image.
fn check_services(names: &[String], host: &mut dyn Host) {
    if names.is_empty() {
        return;
    }
    let mut present: Vec<(String, Pid, StateName)> = Vec::new();
    host.runs(&mut |info| {
        if info.kind == RunKind::Service {
            present.push((String::from(info.name), info.pid, info.state));
        }
    });
    for name in names {
        match present.iter().find(|(n, _, _)| n == name) {
            Some((_, pid, StateName::Done)) => {
                log(host, format_args!("service {name}: stopped (pid {pid})"))
            }
            Some((_, pid, _)) => log(host, format_args!("service {name}: running (pid {pid})")),
            None => log(host, format_args!("service {name}: not in this image")),
        }
    }
}

/// Starts `spec` as a run: its arguments, exactly its grants (none if it lists none), its
/// memory limit.
fn spawn(spec: &RunSpec, host: &mut dyn Runs) -> Result<Pid, zb_abi::Error> {
    let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
    let grants: Vec<&str> = spec.grants.iter().map(String::as_str).collect();
    let options = SpawnOptions {
        allow: Some(&grants),
        // Above the address space (4G on a 32-bit target): no limit below the kernel's.
        memory: spec
            .memory
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        kmem: spec.kmem.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
    };
    host.spawn_with(&spec.name, &args, &options)
}

/// Writes `init: <text>` to the system log as one line: control characters become `?`, and
/// the line is cut to [`MAX_LOG_LINE`] bytes.
fn log(host: &mut dyn System, text: fmt::Arguments<'_>) {
    let raw = format!("init: {text}");
    let room = if raw.len() > MAX_LOG_LINE {
        MAX_LOG_LINE - "...".len()
    } else {
        MAX_LOG_LINE
    };
    let mut line = String::with_capacity(raw.len().min(MAX_LOG_LINE));
    for c in raw.chars() {
        let c = if c.is_control() { '?' } else { c };
        if line.len() + c.len_utf8() > room {
            line.push_str("...");
            break;
        }
        line.push(c);
    }
    host.log(&line);
}

/// A wait in the log: `100 ms`, `2 s`, `250 us`.
struct Wait(u64);

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
            write!(f, "{} s", us / 1_000_000)
        } else if us.is_multiple_of(1_000) {
            write!(f, "{} ms", us / 1_000)
        } else {
            write!(f, "{us} us")
        }
    }
}

#[cfg(test)]
mod tests;
