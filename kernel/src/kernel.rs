//! [`Kernel`]: the run table, the scheduler, the channels and the TASK engine, driven one fuel
//! slice at a time.
//!
//! The boot loop (`crate::run`) calls [`Kernel::step`] between serving native services; each
//! step wakes the sleepers whose time has come and gives the next ready run one slice. What a
//! run does that services must see (output, its end) is queued as an [`Event`] and delivered by
//! the loop, so the kernel never calls into a service while it is in the middle of a run.
//!
//! Most host calls are served inside the interpreter without leaving the slice (`crate::sys`);
//! what they did that the kernel must act on waits in the run's outboxes, which the kernel
//! drains ([`Kernel::flush`]) after every slice and every call it serves itself.
//!
//! Invariants:
//! - A run is in the ready queue iff it is in WAIT(ready); it is in the sleepers iff it is in
//!   WAIT(sleep); it is in the channel waiters, once, iff it is in WAIT(channel). A run in WAIT
//!   for a child is found through its child's `parent` when the child ends.
//! - A run parked in a blocking call has had no side effect from it; the call is re-executed
//!   when the run is woken, so a spurious wake-up is harmless.
//! - Ending a run (any way) releases everything it holds: its task, its handles (closing
//!   channel ends, which wakes their peers), its place in the queues; its children are
//!   re-parented and a parent waiting for it is woken.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use zb_abi::kind::KindId;
use zb_abi::{Error, MemInfo, Pid, RunKind, syscall};
use zb_hal::Clock;

use crate::account::{Account, Charge};
use crate::cap::HandleTable;
use crate::config::KernelConfig;
use crate::kfiles::KernelFiles;
use crate::link::host_imports;
use crate::module_size::{code_bytes, compile_blocks, declared_memory};
use crate::object::{ChannelId, InTransit, Object};
use crate::replay::{Ending, Recorder, Recordings, Replayer, Tape, Verdict};
use crate::request::{InFlight, Outgoing};
use crate::run::{ExitStatus, Init, LoadFailure, RunState, WaitReason};
use crate::run_table::{Run, RunTable};
use crate::sched::Scheduler;
use crate::scheme::{Registry, SchemeRouter};
use crate::sys::{Outcome, RunSys, Shared};
use crate::task::{HeapWatch, Module, RunData, Slice, Syscall, Task, TaskEngine, TaskLimits};
use wasmi::Linker;

/// Choices for [`Kernel::spawn_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// The URL prefixes the run may open (canonical, see `scheme::narrowed`); `None`: its
    /// parent's.
    pub allow: Option<Vec<String>>,
    /// A memory limit below the kernel's.
    pub memory: Option<usize>,
    /// A kernel-memory quota other than the default (`RunLimits::kernel_bytes`).
    pub kmem: Option<usize>,
    /// Started for the operator: a command typed at the console. Such a run may delete any
    /// durable consumer (`consumer rm`); its children are not the operator's.
    pub operator: bool,
}

pub use crate::config::KEEP_DONE;

/// Something services must be told about.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A run wrote to stdout (1) or stderr (2).
    Output {
        pid: Pid,
        stream: i32,
        bytes: Vec<u8>,
    },
    /// A run ended. The event carries its final `ps` row, since the table entry may be
    /// reaped (by a waiting parent) before services hear of it.
    Exited(Ended),
    /// Events matching native service `service`'s watch `watch` were committed.
    Committed { service: Pid, watch: u32 },
}

/// A finished run's final `ps` row, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub pid: Pid,
    pub parent: Pid,
    pub name: String,
    pub status: ExitStatus,
    pub fuel: u64,
}

impl Ended {
    fn of(run: &Run, status: &ExitStatus) -> Ended {
        Ended {
            pid: run.pid,
            parent: run.parent,
            name: run.name.clone(),
            status: status.clone(),
            fuel: run.fuel,
        }
    }

    /// The row as services see it.
    pub fn info(&self) -> zb_abi::RunInfo<'_> {
        zb_abi::RunInfo {
            pid: self.pid,
            parent: self.parent,
            kind: RunKind::Wasm,
            name: &self.name,
            state: zb_abi::StateName::Done,
            wait: None,
            memory: 0,
            fuel: self.fuel,
            exit: Some(crate::run_table::exit_view(&self.status)),
        }
    }
}

/// What services must be told, in order; output carries its charge to the run until the
/// boot loop takes it for the console.
#[derive(Default)]
pub(crate) struct EventQueue {
    queue: VecDeque<(Event, Charge)>,
}

impl EventQueue {
    /// Queues `event` (charged to nobody).
    pub(crate) fn push_back(&mut self, event: Event) {
        self.queue.push_back((event, Charge::none()));
    }

    fn push_charged(&mut self, event: Event, charge: Charge) {
        self.queue.push_back((event, charge));
    }
}

/// Says whether the kernel heap has free blocks of the given sizes, all at once
/// ([`Kernel::set_block_probe`]).
pub type BlockProbe = &'static dyn Fn(&[usize]) -> bool;

/// Kernel heap a run's instance takes, about (its boxed store, ~1.7 KiB, and instance
/// tables): the load's charge where the platform cannot measure the heap.
const INSTANCE_BYTES: usize = 2048;

/// Events the kernel's queue keeps room for once a burst has drained.
const EVENT_QUEUE_KEPT: usize = 8;

/// The kernel core: the run table, the scheduler, channels, the scheme router, requests in
/// flight and the bus, driven by a platform through `step` (see the crate doc).
pub struct Kernel {
    pub(crate) config: KernelConfig,
    /// Loadable programs by path (`/bin/<name>`).
    programs: BTreeMap<&'static str, &'static [u8]>,
    /// Compiled programs, each in an engine of its own. wasmi keeps a compiled function's code
    /// in its engine until the engine is dropped — dropping the `Module` does not free it — so
    /// a program is compiled once and its engine shared by all its runs; without
    /// `keep_compiled` it is dropped (and its code freed) when its last run ends.
    compiled: BTreeMap<&'static str, Compiled>,
    pub(crate) runs: RunTable,
    pub(crate) sched: Scheduler,
    /// Reports the kernel heap's free bytes, when the platform can (admission control).
    pub(crate) heap_free: Option<&'static dyn Fn() -> usize>,
    /// Reports whether the heap has free blocks of so many bytes at once (admission control).
    heap_fits: Option<BlockProbe>,
    /// Reports whether the heap spent its reserve (see [`Kernel::set_heap_reserve`]).
    heap_spent: Option<&'static dyn Fn() -> bool>,
    /// Reports whether the heap's reserve is armed (see [`Kernel::set_heap_reserve`]).
    heap_ready: Option<&'static dyn Fn() -> bool>,
    /// Finished runs' recordings, for `replay` (`crate::replay`).
    pub(crate) recordings: Recordings,
    /// The event bus and its journal, once opened ([`Kernel::open_journal`]).
    pub(crate) bus: Option<crate::bus::EventBus>,
    /// The channels and clock, shared with every run's calls.
    pub(crate) shared: Rc<Shared>,
    pub(crate) events: EventQueue,
    /// A run's woken channels, being acted on (kept to reuse its allocation).
    woken: Vec<ChannelId>,
    /// What the wall clock (UNIX seconds, UTC) read at kernel time 0, once known.
    wall_at_boot_secs: Option<u64>,
    /// The runs in WAIT(channel), with the channel, in the order they blocked.
    channel_waiters: Vec<(ChannelId, Pid)>,
    /// Where each URL scheme's requests go.
    pub(crate) router: SchemeRouter,
    /// Drivers, services and schemes by KindId.
    pub(crate) registry: Registry,
    /// Requests to scheme handlers not yet answered.
    pub(crate) inflight: InFlight,
    /// The `proc://` and `mem://` files open.
    pub(crate) kfiles: KernelFiles,
    /// Handles held by native services (runs keep theirs in their store).
    pub(crate) native_handles: BTreeMap<Pid, HandleTable<Object>>,
    /// Reports memory statistics, when the platform can (`mem://`).
    pub(crate) memory_probe: Option<&'static dyn Fn() -> MemInfo>,
    /// The system log (`proc://log`, `dmesg`): the latest lines, at most `log_bytes`.
    pub(crate) log: VecDeque<String>,
    log_bytes: usize,
    /// Until the boot is over, log lines are also shown on the console.
    booting: bool,
    /// Slices run while events waited for a commit (see [`Kernel::step`]).
    commit_held: u32,
}

/// Most slices queued events wait for a group commit while runs are ready.
const COMMIT_HOLD_SLICES: u32 = 8;

impl Kernel {
    pub fn new(clock: &'static dyn Clock, config: KernelConfig) -> Self {
        Kernel {
            config,
            programs: BTreeMap::new(),
            compiled: BTreeMap::new(),
            heap_free: None,
            heap_fits: None,
            heap_spent: None,
            heap_ready: None,
            recordings: Recordings::new(config.replay.kept_bytes),
            bus: None,
            runs: RunTable::new(KEEP_DONE),
            sched: Scheduler::new(),
            shared: Shared::new(clock, config.channel_capacity),
            events: EventQueue::default(),
            woken: Vec::new(),
            wall_at_boot_secs: None,
            channel_waiters: Vec::new(),
            router: SchemeRouter::new(),
            registry: Registry::new(),
            inflight: InFlight::default(),
            kfiles: KernelFiles::new(),
            native_handles: BTreeMap::new(),
            memory_probe: None,
            log: VecDeque::new(),
            log_bytes: 0,
            booting: true,
            commit_held: 0,
        }
    }

    /// The channels (for tests).
    #[cfg(test)]
    pub(crate) fn channels(&self) -> core::cell::Ref<'_, crate::object::Channels> {
        // Borrowed mutably only within one call or kernel operation, never across this.
        self.shared.channels.borrow()
    }

    /// Makes `bytes` loadable under `path` (e.g. `/bin/hello`).
    pub fn install(&mut self, path: &'static str, bytes: &'static [u8]) {
        self.programs.insert(path, bytes);
        self.compiled.remove(path);
    }

    /// The boot file at `path`.
    pub(crate) fn programs_get(&self, path: &str) -> Option<&'static [u8]> {
        self.programs.get(path).copied()
    }

    /// Paths of the installed programs.
    pub fn programs(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.programs.keys().copied()
    }

    /// Enters a native service in the run table (shown by `ps`; it never enters the ready
    /// queue — the boot loop serves it).
    pub fn add_service(&mut self, name: &str) -> Pid {
        let wait = Init::new().admit().dispatch().block(WaitReason::Input);
        self.runs.insert(Run {
            pid: 0,
            parent: 0,
            name: name.to_string(),
            kind: RunKind::Service,
            state: RunState::Wait(wait),
            program: None,
            task: None,
            parked: None,
            reply: 0,
            fuel: 0,
        })
    }

    /// Marks a native service as executing (`busy`) or back to waiting for input.
    pub fn service_running(&mut self, pid: Pid, busy: bool) {
        let Some(run) = self.runs.get_mut(pid) else {
            return;
        };
        run.state = match run.state.take() {
            RunState::Wait(w) if busy => RunState::Exec(w.dispatch()),
            RunState::Exec(e) if !busy => RunState::Wait(e.block(WaitReason::Input)),
            other => other,
        };
    }

    /// Starts `/bin/<name>` as a child of `parent` with `args` (each ending with NUL) and the
    /// handles in `grants` moved into it. A module that does not load still gets a pid: the run
    /// is DONE at once (`invalid` or `rejected`) and an [`Event::Exited`] is queued. Errors
    /// (nothing changed; the grants are the caller's to release): `NotFound` for no such
    /// program, `InvalidArgument` for a bad name, `OutOfMemory` when the run limit is reached.
    pub fn spawn(
        &mut self,
        parent: Pid,
        name: &str,
        args: Vec<u8>,
        grants: Vec<InTransit>,
    ) -> Result<Pid, (Error, Vec<InTransit>)> {
        self.spawn_with(parent, name, args, grants, RunOptions::default())
    }

    /// [`Kernel::spawn`] with `options`. Without an `allow` list of its own, the child gets
    /// its parent's URL grants (a run's children can never reach more than the run).
    pub fn spawn_with(
        &mut self,
        parent: Pid,
        name: &str,
        args: Vec<u8>,
        grants: Vec<InTransit>,
        options: RunOptions,
    ) -> Result<Pid, (Error, Vec<InTransit>)> {
        let (path, wasm) = match self.can_spawn(parent, name, grants.len()) {
            Ok(found) => found,
            Err(e) => return Err((e, grants)),
        };
        let mut sys = RunSys::new(self.config.limits.handles, args);
        let quota = options.kmem.unwrap_or(self.config.limits.kernel_bytes);
        sys.account = Account::new(quota, self.heap_free);
        sys.output_window = self.config.limits.output_bytes;
        sys.operator = options.operator;
        sys.allow = match options.allow {
            Some(allow) => Some(allow),
            None => self.allow_of(parent),
        };
        let memory = options.memory.map_or(self.config.limits.memory_bytes, |m| {
            m.min(self.config.limits.memory_bytes)
        });
        let mut loaded = self.load(path, wasm, sys, memory);
        let mut released = Vec::new();
        for (object, rights) in grants {
            let Ok(task) = loaded.as_mut() else {
                released.push(object);
                continue;
            };
            let sys = &mut task.data_mut().sys;
            // Cannot fail: the table is empty and `grants` fits its limit (checked above).
            match sys.handles.insert(object, rights) {
                Ok(h) => sys.granted.push(h),
                Err(_) => released.push(object),
            }
        }
        let tape = match (self.config.replay.tape_bytes, loaded.as_ref()) {
            (0, _) | (_, Err(_)) => Tape::Off,
            // Its recording is charged to the run, as it grows.
            (limit, Ok(task)) => {
                Tape::Record(Recorder::new(limit, Some(task.data().sys.account.clone())))
            }
        };
        let pid = self.start(parent, name.to_string(), path, loaded, tape);
        for object in released {
            self.release(object);
        }
        Ok(pid)
    }

    /// Puts a run of the program at `path` in the table: READY with `tape` if it `loaded`,
    /// DONE at once (and reported) if it did not.
    fn start(
        &mut self,
        parent: Pid,
        name: String,
        path: &'static str,
        loaded: Result<Task, LoadFailure>,
        tape: Tape,
    ) -> Pid {
        let (state, task) = match loaded {
            Ok(mut task) => {
                task.data_mut().tape = tape;
                (RunState::Wait(Init::new().admit()), Some(task))
            }
            Err(failure) => (RunState::Done(Init::new().fail(failure)), None),
        };
        let live = task.is_some();
        let pid = self.runs.insert(Run {
            pid: 0,
            parent,
            name,
            kind: RunKind::Wasm,
            state,
            program: task.as_ref().map(|_| path),
            task,
            parked: None,
            reply: 0,
            fuel: 0,
        });
        if live {
            if let Some(task) = self.runs.get_mut(pid).and_then(|r| r.task.as_mut()) {
                task.data_mut().sys.pid = pid;
            }
            self.sched.make_ready(pid);
        } else if let Some(run) = self.runs.get(pid)
            && let Some(status) = run.state.status()
        {
            self.events.push_back(Event::Exited(Ended::of(run, status)));
        }
        pid
    }

    /// The wall clock (UNIX seconds, UTC), if the platform has a real-time clock or it was
    /// set.
    pub fn wall_clock_secs(&self) -> Option<u64> {
        let since_boot = self.shared.clock.now_us() / 1_000_000;
        self.wall_at_boot_secs.map(|at_boot| at_boot + since_boot)
    }

    /// Sets the wall clock to `unix_secs` (UTC): cron timers are scheduled again against it.
    /// `InvalidArgument` for a time before boot (the clock would have read less than 0 at
    /// boot) or past the year 9999.
    pub fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        let now_us = self.shared.clock.now_us();
        let at_boot = unix_secs
            .checked_sub(now_us / 1_000_000)
            .filter(|_| unix_secs <= zb_abi::time::LAST_SECOND)
            .ok_or(Error::InvalidArgument)?;
        self.wall_at_boot_secs = Some(at_boot);
        if let Some(bus) = self.bus.as_mut() {
            bus.set_wall_clock(at_boot, now_us);
        }
        Ok(())
    }

    /// Starts a replay of finished run `pid` as a child of `parent`: the same code, every call
    /// answered from the recording, nothing done for real. Its output is the verdict (one
    /// line); it ends `ok(0)` when identical, `ok(1)` when it diverged. `Busy`: the run has
    /// not finished; `NotFound`: no recording of it is kept (too old, never recorded);
    /// `TooLarge`: its recording outgrew the limit.
    pub fn replay(&mut self, parent: Pid, pid: Pid) -> Result<Pid, Error> {
        match self.runs.get(pid) {
            Some(run) if run.kind == RunKind::Service => return Err(Error::NotFound),
            Some(run) if run.is_live() => return Err(Error::Busy),
            _ => {}
        }
        let recording = self.recordings.get(pid).ok_or(Error::NotFound)?;
        if recording.tape.is_none() {
            return Err(Error::TooLarge);
        }
        let ending = &recording.ending;
        let (path, wasm, memory) = (ending.path, ending.wasm, ending.memory_bytes);
        let name = format!("replay:{}", ending.name());
        let sys = RunSys::new(self.config.limits.handles, Vec::new());
        let loaded = self.load(path, wasm, sys, memory);
        let tape = Tape::Replay(Replayer::new(recording));
        Ok(self.start(parent, name, path, loaded, tape))
    }

    /// The URL grants of run `pid` (`None`: unrestricted, as services are).
    pub(crate) fn allow_of(&self, pid: Pid) -> Option<Vec<String>> {
        self.runs
            .get(pid)
            .and_then(|r| r.task.as_ref())
            .and_then(|t| t.data().sys.allow.clone())
    }

    /// Whether [`Kernel::spawn`] of `name` with `grants` handles would start a run; the
    /// program's path and bytes.
    pub(crate) fn can_spawn(
        &self,
        parent: Pid,
        name: &str,
        grants: usize,
    ) -> Result<(&'static str, &'static [u8]), Error> {
        if !valid_program_name(name) {
            return Err(Error::InvalidArgument);
        }
        let mut path = String::with_capacity(name.len() + 5);
        path.push_str("/bin/");
        path.push_str(name);
        let (&path, &wasm) = self
            .programs
            .get_key_value(path.as_str())
            .ok_or(Error::NotFound)?;
        if self.runs.live_runs() >= self.config.max_runs || grants > self.config.limits.handles {
            return Err(Error::OutOfMemory);
        }
        // A run's share of the run slots: at most a quarter of them as its children (live, or
        // ended and not yet waited for), and runs started by runs leave the last quarter to the
        // shell and the services, so one run's spawns cannot stop everyone else's.
        if self
            .runs
            .get(parent)
            .is_some_and(|p| p.kind == RunKind::Wasm)
        {
            let reserve = self.config.max_runs / 4;
            let share = reserve.max(2);
            let children = self.runs.iter().filter(|r| r.parent == parent).count();
            if children >= share || self.runs.live_runs() + reserve >= self.config.max_runs {
                return Err(Error::OutOfMemory);
            }
        }
        Ok((path, wasm))
    }

    /// Lets the kernel report memory statistics (`mem://`).
    pub fn set_memory_probe(&mut self, probe: &'static dyn Fn() -> MemInfo) {
        self.memory_probe = Some(probe);
    }

    /// Routes `scheme://` to native service `pid` and registers it as `kind`.
    pub fn register_scheme(
        &mut self,
        pid: Pid,
        scheme: &'static str,
        kind: KindId,
    ) -> Result<(), Error> {
        self.router.register(scheme, pid)?;
        self.registry.add(kind, scheme, pid);
        Ok(())
    }

    /// Adds `kind` to the registry, provided by `pid` (0: the kernel or a driver).
    pub fn register_kind(&mut self, kind: KindId, name: &'static str, pid: Pid) {
        self.registry.add(kind, name, pid);
    }

    /// Visits the registry in KindId order.
    pub fn kinds(&self, visit: &mut dyn FnMut(&zb_abi::kind::KindInfo<'_>)) {
        self.registry.visit(visit);
    }

    /// The next request for a service, to be handed to it by the boot loop.
    pub fn take_request(&mut self) -> Option<Outgoing> {
        self.inflight.take_outgoing()
    }

    /// Whether requests wait to be handed to services.
    pub fn has_requests(&self) -> bool {
        self.inflight.has_outgoing()
    }

    /// Adds one line to the system log (`dmesg`), stamped with the time since boot. While the
    /// system boots it is also shown on the console.
    pub fn log(&mut self, line: &str) {
        let us = self.shared.clock.now_us();
        let stamped = format!("[{:>5}.{:03}] {line}", us / 1_000_000, us / 1000 % 1000);
        if self.booting {
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            self.events.push_back(Event::Output {
                pid: 0,
                stream: syscall::STDERR,
                bytes,
            });
        }
        self.log_bytes += stamped.len() + 1;
        self.log.push_back(stamped);
        while self.log_bytes > self.config.log_bytes {
            match self.log.pop_front() {
                Some(old) => self.log_bytes -= old.len() + 1,
                None => break,
            }
        }
    }

    /// The boot is over: log lines go only to the log from now on.
    pub fn boot_finished(&mut self) {
        self.booting = false;
    }

    /// Lets the kernel refuse a module the heap cannot hold (`rejected`) instead of running
    /// out of memory while compiling it: `free` reports the heap's free bytes.
    pub fn set_heap_probe(&mut self, free: &'static dyn Fn() -> usize) {
        self.heap_free = Some(free);
    }

    /// Lets the kernel refuse a module whose compiler would ask for a block the heap cannot
    /// give in one piece (its free bytes may be enough, but scattered): `fits` says whether
    /// the heap has free blocks of so many bytes at once, without taking them.
    pub fn set_block_probe(&mut self, fits: BlockProbe) {
        self.heap_fits = Some(fits);
    }

    /// Lets the kernel end the run that exhausted the heap: `spent` says whether the heap had
    /// to give up its reserve (`zb_hal::KernelHeap::arm_reserve`) since it was last asked;
    /// `ready` whether it is armed again (while it is not, no new run starts: the next
    /// exhaustion would have nothing to fall back on).
    pub fn set_heap_reserve(
        &mut self,
        spent: &'static dyn Fn() -> bool,
        ready: &'static dyn Fn() -> bool,
    ) {
        self.heap_spent = Some(spent);
        self.heap_ready = Some(ready);
    }

    /// Refuses to compile `wasm` when the heap clearly cannot hold its code and memory.
    ///
    /// Every new run is checked, not only the first of a program: a second instance of a
    /// compiled program still needs its own memory (`compiling`: the code as well).
    ///
    /// When the heap is short, resident views are paged out first (`crate::views`): a view
    /// folds nothing while out and catches up from the journal when it is next asked.
    pub(crate) fn admit(&mut self, wasm: &[u8], compiling: bool) -> Result<(), LoadFailure> {
        // Compiling takes transient memory beyond the code it keeps (hence the big reserve);
        // an instance needs little beyond its memory.
        if compiling {
            self.admit_within(wasm, true, HEAP_RESERVE)
        } else {
            self.admit_within(wasm, false, INSTANCE_RESERVE)
        }
    }

    /// [`Kernel::admit`] for paging a view's reducer in: compiled in the kernel, with no
    /// linker and no service serving it, so with a smaller reserve than a run.
    pub(crate) fn admit_reducer(&mut self, wasm: &[u8]) -> Result<(), LoadFailure> {
        self.admit_within(wasm, true, REDUCER_RESERVE)
    }

    fn admit_within(
        &mut self,
        wasm: &[u8],
        compiling: bool,
        reserve: usize,
    ) -> Result<(), LoadFailure> {
        if self.heap_ready.is_some_and(|ready| !ready()) {
            return Err(LoadFailure::Rejected(String::from(
                "kernel memory is too low to start a run (end one first)",
            )));
        }
        let free = |k: &Self| k.heap_free.map_or(usize::MAX, |free| free());
        let memory_limit = self.config.limits.memory_bytes;
        let code = if compiling { code_bytes(wasm.len()) } else { 0 };
        // The large blocks it takes at once: compiling, then its memory.
        let [buffer, copy] = if compiling {
            compile_blocks(wasm)
        } else {
            [0, 0]
        };
        // Translating comes before the run's memory and instance and is given back before
        // them: beside the code, the heap must hold the larger of the two.
        let memory = memory_limit.min(declared_memory(wasm));
        let run = memory.saturating_add(reserve);
        // (The validator's and translator's smaller buffers are in `code_bytes`' slack.)
        let translating = buffer.saturating_add(copy);
        let need = code.saturating_add(run.max(translating));
        let fits = |k: &Self| {
            k.heap_fits
                .is_none_or(|fits| fits(&[buffer, copy]) && fits(&[memory, KERNEL_HEADROOM]))
        };
        if need > free(self) || !fits(self) {
            // Views are paged in again when they are next needed.
            let _paged_out = self.bus.as_mut().map(|bus| bus.page_out_views());
        }
        let free = free(self);
        if need > free {
            return Err(LoadFailure::Rejected(format!(
                "not enough kernel memory to load it (needs about {}, {} free)",
                zb_abi::fmt::Bytes(need as u64),
                zb_abi::fmt::Bytes(free as u64)
            )));
        }
        if !fits(self) {
            return Err(LoadFailure::Rejected(format!(
                "kernel memory is too fragmented to load it (needs free blocks of {}, {} and \
                 {}; {} free in smaller pieces)",
                zb_abi::fmt::Bytes(buffer as u64),
                zb_abi::fmt::Bytes(copy as u64),
                zb_abi::fmt::Bytes(memory as u64),
                zb_abi::fmt::Bytes(free as u64)
            )));
        }
        Ok(())
    }

    /// A task for the program at `path` whose calls see `sys`, compiled at the program's first
    /// spawn (or again after its code was dropped).
    fn load(
        &mut self,
        path: &'static str,
        wasm: &[u8],
        sys: RunSys,
        memory_bytes: usize,
    ) -> Result<Task, LoadFailure> {
        let limits = TaskLimits {
            memory_bytes,
            heap: self.heap_free.map(|free| HeapWatch {
                free,
                keep: KERNEL_HEADROOM,
            }),
        };
        let compiling = !self.compiled.contains_key(path);
        self.admit(wasm, compiling)?;
        // What the load takes is measured on the heap where the platform can tell (else
        // estimated), and charged to the run.
        let heap_free = self.heap_free;
        let before = heap_free.map(|free| free());
        if compiling {
            let engine = TaskEngine::new(self.config.limits.stack_bytes);
            let module = engine.compile(wasm)?;
            let imported = |name: &str| {
                module
                    .imports()
                    .any(|i| i.module() == zb_abi::syscall::MODULE && i.name() == name)
            };
            let linker = engine
                .linker(|linker| host_imports(linker, imported))
                .map_err(|_| LoadFailure::Invalid("the HOST imports failed to link".into()))?;
            let compiled = Compiled {
                engine,
                linker,
                module,
                live: 0,
            };
            self.compiled.insert(path, compiled);
        }
        let Some(c) = self.compiled.get_mut(path) else {
            return Err(LoadFailure::Invalid("compiled program vanished".into()));
        };
        let task = c
            .engine
            .instantiate(&c.module, limits, &c.linker, sys, self.shared.clone());
        match task {
            Ok(mut task) => {
                c.live += 1;
                let took = match (before, heap_free) {
                    (Some(before), Some(free)) => before.saturating_sub(free()),
                    _ => usize::from(compiling) * code_bytes(wasm.len()) + INSTANCE_BYTES,
                };
                let sys = &mut task.data_mut().sys;
                sys.loaded = sys.account.hold_loaded(took);
                Ok(task)
            }
            Err(e) => {
                self.program_ended(path, false);
                Err(e)
            }
        }
    }

    /// How many programs have compiled code in memory.
    pub fn compiled_programs(&self) -> usize {
        self.compiled.len()
    }

    /// A run of the program at `path` ended (`was_live`: it had been counted); drops the code
    /// when nothing uses it and the configuration does not keep it.
    fn program_ended(&mut self, path: &'static str, was_live: bool) {
        if let Some(c) = self.compiled.get_mut(path) {
            if was_live {
                c.live = c.live.saturating_sub(1);
            }
            if c.live == 0 && !self.config.keep_compiled {
                self.compiled.remove(path);
            }
        }
    }

    /// Ends a live wasm run with `rejected: killed`.
    pub fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        match self.runs.get(pid) {
            Some(run) if run.kind == RunKind::Service => Err(Error::PermissionDenied),
            Some(run) if run.is_live() => {
                self.finish(pid, ExitStatus::Rejected("killed".into()));
                Ok(())
            }
            _ => Err(Error::NotFound),
        }
    }

    /// The run table (for `ps`, `wait` and tests).
    pub fn runs(&self) -> &RunTable {
        &self.runs
    }

    /// The next event that is not run output, for while the console takes no output: the
    /// runs' output stays queued in order (and charged to them), and nothing else waits
    /// behind it — a run's end, an init restart, a watch's commit — except that a run's end
    /// still comes after its own output.
    pub fn take_event_past_output(&mut self) -> Option<Event> {
        let queue = &self.events.queue;
        let wrote = |before: usize, who: Pid| {
            queue
                .iter()
                .take(before)
                .any(|(e, _)| matches!(e, Event::Output { pid, .. } if *pid == who))
        };
        // Each run's end is checked against the output ahead of it (a scan per end, and ends
        // are few).
        let i = queue.iter().enumerate().position(|(i, (e, _))| match e {
            Event::Output { .. } => false,
            Event::Exited(ended) => !wrote(i, ended.pid),
            Event::Committed { .. } => true,
        })?;
        self.events.queue.remove(i).map(|(event, _)| event)
    }

    /// The next thing services must hear about.
    pub fn take_event(&mut self) -> Option<Event> {
        let (event, charge) = self.events.queue.pop_front()?;
        if self.events.queue.is_empty() && self.events.queue.capacity() > EVENT_QUEUE_KEPT {
            // A burst held while the console was full leaves no big queue behind.
            self.events.queue.shrink_to(EVENT_QUEUE_KEPT);
        }
        // The output is the console's now: the run's charge for it is given back, and a
        // run waiting for its output to drain may write again.
        drop(charge);
        if let Event::Output { pid, .. } = event {
            self.wake_writer(pid);
        }
        Some(event)
    }

    /// Wakes run `pid` if it waits for its output to drain and some has.
    fn wake_writer(&mut self, pid: Pid) {
        let Some(run) = self.runs.get(pid) else {
            return;
        };
        let drained = run.task.as_ref().is_some_and(|t| {
            let sys = &t.data().sys;
            sys.account.output() < sys.output_window
        });
        if drained && matches!(&run.state, RunState::Wait(w) if *w.reason() == WaitReason::Output) {
            self.wake(pid);
        }
    }

    pub fn has_ready(&self) -> bool {
        self.sched.has_ready()
    }

    /// When the earliest sleeper wakes.
    pub fn next_deadline(&self) -> Option<u64> {
        let bus = self
            .bus
            .as_ref()
            .and_then(crate::bus::EventBus::next_deadline);
        match (self.sched.next_deadline(), bus) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wakes due sleepers and gives the next ready run one slice. Returns false if no run was
    /// ready.
    pub fn step(&mut self) -> bool {
        if self.sched.next_deadline().is_some() {
            self.sched.wake_expired(self.shared.clock.now_us());
        }
        // Group commit: events wait while other runs are ready (they may emit too), up to a
        // full batch — or up to COMMIT_HOLD_SLICES slices, so a run that is always ready
        // cannot keep an emitter waiting for ever.
        let idle = !self.sched.has_ready();
        let pending = self.bus.as_ref().is_some_and(|b| b.has_pending().0);
        self.commit_held = if pending { self.commit_held + 1 } else { 0 };
        let force = idle || self.commit_held > COMMIT_HOLD_SLICES;
        if self.commit_events(force) && idle {
            return true;
        }
        let Some(pid) = self.sched.dispatch_next() else {
            return false;
        };
        self.run_slice(pid);
        if self.heap_spent.is_some_and(|spent| spent()) {
            self.out_of_memory(pid);
        }
        true
    }

    /// A native service just served a request of run `pid`: if the heap had to give up its
    /// reserve meanwhile, the memory went to `pid`'s request, and `pid` ends (as a run that
    /// exhausts the heap itself does, [`Kernel::step`]) before anything else needs the heap.
    pub fn charge_heap_to(&mut self, pid: Pid) {
        if self.heap_spent.is_some_and(|spent| spent()) {
            self.out_of_memory(pid);
        }
    }

    /// The heap ran out while `pid` executed (its reserve saved the allocation): the run ends,
    /// which gives back its memory, before anything else needs the heap.
    fn out_of_memory(&mut self, pid: Pid) {
        let live = self.runs.get(pid).is_some_and(|r| r.is_live());
        let line = format!("kernel: out of kernel memory while pid {pid} ran; it is ended");
        self.log(&line);
        if live {
            self.finish(pid, ExitStatus::Rejected("out of kernel memory".into()));
        }
    }

    fn run_slice(&mut self, pid: Pid) {
        let Some(run) = self.runs.get_mut(pid) else {
            return;
        };
        let wait = match run.state.take() {
            RunState::Wait(w) => w,
            other => {
                // Only runs in WAIT are queued; anything else is left as it was.
                run.state = other;
                return;
            }
        };
        let reason = wait.reason().clone();
        run.state = RunState::Exec(wait.dispatch());
        let mut budget = self.config.fuel_slice;

        // The result the run resumes with: a parked call is served again first.
        let mut reply = match run.parked.take() {
            None => run.reply,
            Some(sys) => {
                let outcome = match reason {
                    WaitReason::Sleep { until_us } if self.shared.clock.now_us() < until_us => {
                        Outcome::Block(WaitReason::Sleep { until_us })
                    }
                    WaitReason::Sleep { .. } => Outcome::Reply(0),
                    _ => crate::gate::serve(self, pid, &sys),
                };
                match self.apply(pid, sys, outcome) {
                    Some(reply) => reply,
                    None => return,
                }
            }
        };

        loop {
            let Some(run) = self.runs.get_mut(pid) else {
                return;
            };
            let Some(task) = run.task.as_mut() else {
                return;
            };
            budget = task.pay_debt(budget);
            let before = task.fuel_used();
            let slice = task.resume(budget, reply);
            // Host calls charge their fuel in the store, so this counts them too.
            budget = budget.saturating_sub(task.fuel_used() - before);
            let sys = &mut task.data_mut().sys;
            let served = sys.served.take();
            if sys.has_outbox() {
                self.flush(pid);
            }
            match slice {
                Slice::Done(status) => return self.end(pid, status, true),
                Slice::Preempted if self.replay_spent(pid) => {
                    return self.finish(pid, ExitStatus::Rejected("replay out of fuel".into()));
                }
                Slice::Preempted => return self.preempt(pid),
                Slice::Syscall(sys) => {
                    let outcome = match served {
                        Some(outcome) => outcome,
                        None => crate::gate::serve(self, pid, &sys),
                    };
                    reply = match self.apply(pid, sys, outcome) {
                        Some(reply) => reply,
                        None => return,
                    };
                    if budget == 0 {
                        // Suspended in the call: it gets its result when next dispatched.
                        if let Some(run) = self.runs.get_mut(pid) {
                            run.reply = reply;
                        }
                        return self.preempt(pid);
                    }
                }
            }
        }
    }

    /// Applies a call's outcome to run `pid` (in EXEC); the result it continues with, or `None`
    /// if it stops executing.
    fn apply(&mut self, pid: Pid, sys: Syscall, outcome: Outcome) -> Option<i64> {
        match outcome {
            Outcome::Reply(v) => Some(v),
            Outcome::Yield => {
                if let Some(run) = self.runs.get_mut(pid) {
                    run.reply = 0;
                }
                self.preempt(pid);
                None
            }
            Outcome::Block(reason) => {
                self.park(pid, sys, reason);
                None
            }
            Outcome::Again => {
                self.park(pid, sys, WaitReason::Ready);
                self.wake(pid);
                None
            }
        }
    }

    /// EXEC → WAIT(ready), to the back of the queue.
    fn preempt(&mut self, pid: Pid) {
        let Some(run) = self.runs.get_mut(pid) else {
            return;
        };
        run.state = match run.state.take() {
            RunState::Exec(e) => {
                self.sched.make_ready(pid);
                RunState::Wait(e.preempt())
            }
            other => other,
        };
    }

    /// EXEC → WAIT(reason), holding the call to retry.
    fn park(&mut self, pid: Pid, sys: Syscall, reason: WaitReason) {
        let Some(run) = self.runs.get_mut(pid) else {
            return;
        };
        run.state = match run.state.take() {
            RunState::Exec(e) => {
                match reason {
                    WaitReason::Sleep { until_us } => self.sched.sleep_until(pid, until_us),
                    WaitReason::Channel { channel } => self.channel_waiters.push((channel, pid)),
                    _ => {}
                }
                run.parked = Some(sys);
                RunState::Wait(e.block(reason))
            }
            other => other,
        };
    }

    /// WAIT(anything) → WAIT(ready), into the ready queue.
    pub(crate) fn wake(&mut self, pid: Pid) {
        if let Some(run) = self.runs.get_mut(pid) {
            wake(run, &mut self.sched);
        }
        self.channel_waiters.retain(|&(_, p)| p != pid);
    }

    /// Wakes every run blocked on one of `channels`, in the order they blocked.
    pub(crate) fn wake_channels(&mut self, channels: &[ChannelId]) {
        let mut i = 0;
        while let Some(&(channel, pid)) = self.channel_waiters.get(i) {
            if !channels.contains(&channel) {
                i += 1;
                continue;
            }
            self.channel_waiters.remove(i);
            let reason = WaitReason::Channel { channel };
            if let Some(run) = self.runs.get_mut(pid)
                && matches!(&run.state, RunState::Wait(w) if *w.reason() == reason)
            {
                wake(run, &mut self.sched);
            }
        }
    }

    /// Acts on what run `pid`'s calls left in its outboxes: output becomes [`Event::Output`],
    /// changed channels wake their waiters.
    pub(crate) fn flush(&mut self, pid: Pid) {
        let Some(task) = self.runs.get_mut(pid).and_then(|r| r.task.as_mut()) else {
            return;
        };
        let sys = &mut task.data_mut().sys;
        if !sys.has_outbox() {
            return;
        }
        if !sys.output.is_empty() {
            for (stream, bytes, charge) in sys.output.drain(..) {
                let event = Event::Output { pid, stream, bytes };
                self.events.push_charged(event, charge);
            }
        }
        // Swapped with the (empty) spare, so neither side allocates again.
        let mut changed = core::mem::take(&mut self.woken);
        core::mem::swap(&mut changed, &mut sys.woken);
        self.wake_and_keep(changed);
    }

    /// Wakes the waiters of the channels in `changed`, then keeps the list as the spare (so
    /// waking allocates nothing).
    fn wake_and_keep(&mut self, mut changed: Vec<ChannelId>) {
        self.wake_channels(&changed);
        changed.clear();
        self.woken = changed;
    }

    /// Lets go of an object a run held (closing a channel end wakes its peer; a remote
    /// object's handler is told to close it).
    pub(crate) fn release(&mut self, object: Object) {
        match object {
            Object::Remote { scheme, remote, .. } => return self.close_remote(0, scheme, remote),
            Object::Subscription { sub } => {
                let now_us = self.shared.clock.now_us();
                if let Some(bus) = self.bus.as_mut() {
                    bus.unsubscribe(sub, now_us);
                }
                return;
            }
            Object::ChannelEnd { .. } => {}
        }
        let mut changed = core::mem::take(&mut self.woken);
        // Borrowed for this statement only.
        self.shared
            .channels
            .borrow_mut()
            .release_into(object, &mut changed);
        self.wake_and_keep(changed);
    }

    /// Whether run `pid` is a replay that has used more fuel than the run it replays could
    /// have (it is then stopped: see `Replayer::fuel_limit`).
    fn replay_spent(&mut self, pid: Pid) -> bool {
        let slice = self.config.fuel_slice;
        let Some(task) = self.runs.get_mut(pid).and_then(|r| r.task.as_mut()) else {
            return false;
        };
        let used = task.fuel_used();
        match &mut task.data_mut().tape {
            Tape::Replay(r) if used > r.fuel_limit(slice) => {
                r.out_of_fuel();
                true
            }
            _ => false,
        }
    }

    /// Ends run `pid` with `status` (from outside: killed, out of memory) and releases
    /// everything it holds.
    pub(crate) fn finish(&mut self, pid: Pid, status: ExitStatus) {
        self.end(pid, status, false);
    }

    /// Keeps run `pid`'s recording, or, for a replay, writes its verdict; the status the run
    /// ends with. `own`: it ended by itself.
    fn close_tape(&mut self, pid: Pid, status: ExitStatus, own: bool) -> ExitStatus {
        let Some(run) = self.runs.get_mut(pid) else {
            return status;
        };
        let Some(task) = run.task.as_mut() else {
            return status;
        };
        let fuel = task.fuel_used();
        let memory_bytes = task.data().memory_limit();
        match core::mem::replace(&mut task.data_mut().tape, Tape::Off) {
            Tape::Off => status,
            Tape::Record(recorder) => {
                let path = run.program;
                if let Some((path, wasm)) = path.and_then(|p| Some((p, *self.programs.get(p)?))) {
                    let ending = Ending {
                        pid,
                        path,
                        wasm,
                        memory_bytes,
                        fuel,
                        status: status.to_string(),
                        own,
                    };
                    self.recordings.add(recorder.finish(ending));
                }
                status
            }
            Tape::Replay(mut replayer) => {
                let verdict = replayer.verdict(&status, own);
                let line = format!("{verdict}\n");
                self.events.push_back(Event::Output {
                    pid,
                    stream: syscall::STDOUT,
                    bytes: line.into_bytes(),
                });
                match verdict {
                    Verdict::Identical { .. } => ExitStatus::Ok(0),
                    Verdict::Diverged(_) => ExitStatus::Ok(1),
                    Verdict::Stopped { .. } => status,
                }
            }
        }
    }

    /// Ends run `pid` with `status` (`own`: the run ended by itself) and releases everything
    /// it holds.
    fn end(&mut self, pid: Pid, status: ExitStatus, own: bool) {
        // What its last calls did comes before its end (normally already done after its slice).
        self.flush(pid);
        let status = self.close_tape(pid, status, own);
        let Some(run) = self.runs.get_mut(pid) else {
            return;
        };
        run.state = match run.state.take() {
            RunState::Exec(e) => RunState::Done(e.finish(status)),
            RunState::Wait(w) => RunState::Done(w.kill(status)),
            RunState::Init(i) => RunState::Done(i.fail(LoadFailure::Rejected(status.to_string()))),
            done @ RunState::Done(_) => {
                run.state = done;
                return;
            }
        };
        let program = run.program.take();
        let held = match run.task.take() {
            Some(mut task) => {
                run.fuel = task.fuel_used();
                task.data_mut().sys.handles.drain()
            }
            None => Vec::new(),
        };
        run.parked = None;
        let parent = run.parent;
        if let Some(path) = program {
            self.program_ended(path, true);
        }
        self.sched.remove(pid);
        self.channel_waiters.retain(|&(_, p)| p != pid);
        self.inflight.forget_client(pid);
        let now_us = self.shared.clock.now_us();
        if let Some(bus) = self.bus.as_mut() {
            bus.forget(pid, now_us);
        }
        for object in held {
            self.release(object);
        }
        self.runs.reparent_children(pid);
        let parent_waits = self.runs.get(parent).is_some_and(
            |p| matches!(&p.state, RunState::Wait(w) if *w.reason() == WaitReason::Child { pid }),
        );
        if parent_waits {
            self.wake(parent);
        }
        if let Some(run) = self.runs.get(pid)
            && let Some(status) = run.state.status()
        {
            self.events.push_back(Event::Exited(Ended::of(run, status)));
        }
        self.runs.mark_done(pid);
    }
}

/// WAIT(anything) → WAIT(ready), into the ready queue; any other state is left as it is.
fn wake(run: &mut Run, sched: &mut Scheduler) {
    run.state = match run.state.take() {
        RunState::Wait(w) => {
            sched.make_ready(run.pid);
            RunState::Wait(w.wake())
        }
        other => other,
    };
}

/// A program compiled in an engine of its own, and how many live runs use it.
struct Compiled {
    engine: TaskEngine,
    linker: Linker<RunData>,
    module: Module,
    live: usize,
}

/// Heap kept free when admitting a module, beside its code and memory: its engine, linker,
/// store and instance (~6 KiB measured), the buffers translating its largest function, and
/// room for what the kernel and the services allocate serving it.
const HEAP_RESERVE: usize = 16 * 1024;
/// Heap kept free when a view's reducer is paged in: its engine, store and instance (~5 KiB
/// measured on the STM32F4, value stack included), the buffers translating its largest
/// function, and room for the kernel.
const REDUCER_RESERVE: usize = 10 * 1024;
/// Heap kept free when a run of an already compiled program starts: its store, instance and
/// value stack (~6 KiB measured on the STM32F4), and room for the kernel.
const INSTANCE_RESERVE: usize = 8 * 1024;
/// Heap a run's `memory.grow` must leave free: what the kernel and the services allocate while
/// serving runs (messages, log lines, requests, replies). What else a run makes the kernel
/// allocate (its value stack as it calls deeper) is covered by the heap's reserve
/// ([`Kernel::set_heap_reserve`]).
const KERNEL_HEADROOM: usize = 2 * 1024;

/// Program names: 1–64 characters of `[A-Za-z0-9_.-]`, not starting with `.`.
pub fn valid_program_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= syscall::MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
