//! The TASK engine: a run's code, executed by wasmi in fuel slices.
//!
//! One [`TaskEngine`] (a wasmi `Engine`) per kernel; one [`Task`] (a wasmi `Store` + instance)
//! per run. Verified wasmi settings (DESIGN.md §4): eager compilation (lazy translation and fuel
//! do not mix resumably), no start functions (a module runs only when the scheduler says so),
//! custom page sizes (1-byte pages let small runs fit a microcontroller), memory capped by
//! `StoreLimits`.
//!
//! A task runs through resumable calls: running out of fuel suspends it (the scheduler puts the
//! run back in the ready queue); a host call that must be served by the kernel leaves its
//! [`Syscall`] in the store data and returns the [`Suspend`] host error ([`suspend`]), which
//! suspends the run, and the kernel resumes it later with the result. So a runaway loop cannot
//! hog the CPU and a blocking call never blocks the kernel.
//!
//! Most host calls never leave the interpreter: the host functions serve them on the spot with
//! what the store's [`RunData`] holds (the run's handles, arguments, outboxes, and the kernel's
//! shared channels); see `crate::sys`.
//!
//! A module that is not a run — a view's reducer (`crate::views`) — goes through the same
//! engine: compiled with the same settings, instantiated within the same limits, through the
//! same code and with the same checks, but as a [`Callee`]: it imports nothing, its exports are
//! called to completion within a fuel budget each, outside the scheduler, and its store's
//! run-only parts stay empty (no handles, arguments, tape or pending call). Runs and callees
//! share one store type, [`RunData`], on purpose: wasmi's instantiation and call code is
//! generic over the store's data, and a second type would put a second copy in the kernel
//! (about 8 KiB measured on the STM32F4, whose flash is nearly full).
//!
//! Invariants: nothing a module does can make this code panic — every failure becomes an
//! [`ExitStatus`] (a run) or an error value (a callee); a finished task is never resumed.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};

use wasmi::errors::{ErrorKind, InstantiationError, MemoryError, TableError};
use wasmi::{
    CompilationMode, Config, Engine, Error as WasmError, Func, Linker, Memory, ResourceLimiter,
    ResumableCall, ResumableCallHostTrap, ResumableCallOutOfFuel, Store, TypedFunc, Val,
};

use wasmi_core::LimiterError;

use crate::replay::{Growth, Tape};
use crate::run::{ExitStatus, LoadFailure};
use crate::sys::{RunSys, Shared};
use zb_abi::call::Call;

pub use wasmi::Module;

/// The import module every run links against.
pub const HOST_MODULE: &str = "zb";
/// The function a run exports as its entry point.
pub const ENTRY: &str = "_start";

/// wasmi's own minimum value stack; a smaller maximum would not be a valid configuration.
const MIN_STACK_BYTES: usize = 1_000;

/// A call a run left the interpreter with, for the kernel to serve: as the run made it (what
/// replay records) and as the gate decoded it (`crate::gate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// Which call (an ABI syscall number).
    pub number: u32,
    pub args: [i64; 6],
    /// The call, decoded once.
    pub call: Call,
}

/// The host error that suspends a run in a host call. The call itself waits in the store data
/// (see [`suspend`]), so the error is empty and boxing it allocates nothing.
#[derive(Debug)]
pub struct Suspend;

impl core::fmt::Display for Suspend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("host call suspended")
    }
}

impl wasmi::errors::HostError for Suspend {}

/// The call a run is suspended in, until [`Task::resume`] hands it to the kernel.
struct Pending {
    sys: Syscall,
    /// Whether the host function returns a value (the reply it resumes with).
    returns: bool,
}

/// Limits a run is created with.
#[derive(Debug, Clone, Copy)]
pub struct TaskLimits {
    /// Most bytes of linear memory (all memories together).
    pub memory_bytes: usize,
    /// The kernel heap, when the kernel watches it: growing a run's memory must leave it
    /// [`HeapWatch::keep`] bytes free.
    pub heap: Option<HeapWatch>,
}

/// Keeps runs from taking the kernel heap the kernel itself needs: a `memory.grow` that would
/// leave less than `keep` bytes free fails (-1 to the run, as wasm specifies for a memory that
/// cannot grow) instead of succeeding and leaving the kernel's next allocation to fail (which
/// would be a kernel panic).
#[derive(Clone, Copy)]
pub struct HeapWatch {
    /// The heap's free bytes now.
    pub free: &'static dyn Fn() -> usize,
    /// Bytes that must stay free.
    pub keep: usize,
}

impl core::fmt::Debug for HeapWatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeapWatch")
            .field("keep", &self.keep)
            .finish()
    }
}

impl HeapWatch {
    /// Whether `bytes` more can be taken from the heap.
    fn allows(&self, bytes: usize) -> bool {
        (self.free)() >= bytes.saturating_add(self.keep)
    }
}

/// Most elements of one table (a huge table would otherwise be a way to exhaust the heap).
const MAX_TABLE_ELEMENTS: usize = 16 * 1024;

/// What a module may allocate: linear memory up to its limit (asking for more traps, and a run
/// ends `rejected`), one instance, one memory, a few bounded tables. Unlike wasmi's
/// `StoreLimits` with trap-on-failure, a `memory.grow` that fails for want of fuel is not an
/// error — the run is preempted and retries it when resumed with enough fuel — and one the
/// kernel heap cannot satisfy returns -1 to the module, as wasm specifies.
struct RunLimiter {
    memory_bytes: usize,
    heap: Option<HeapWatch>,
}

/// Heap bytes one table element takes, at most (for [`HeapWatch`]).
const TABLE_ELEMENT_BYTES: usize = 16;

impl RunLimiter {
    /// Whether growing from `current` to `desired` units of `unit_bytes` leaves the kernel
    /// heap its headroom (checked for growth at run time only).
    fn heap_allows(&self, current: usize, desired: usize, unit_bytes: usize) -> bool {
        // Instantiation (growing from nothing) was admitted by the kernel's own estimate.
        if current == 0 {
            return true;
        }
        let more = desired.saturating_sub(current).saturating_mul(unit_bytes);
        self.heap.is_none_or(|heap| heap.allows(more))
    }
}

impl RunLimiter {
    fn memory_decision(&self, current: usize, desired: usize, maximum: Option<usize>) -> Growth {
        if desired > self.memory_bytes {
            return Growth::Trapped;
        }
        allowed(maximum.is_none_or(|max| desired <= max) && self.heap_allows(current, desired, 1))
    }

    fn table_decision(&self, current: usize, desired: usize, maximum: Option<usize>) -> Growth {
        if desired > MAX_TABLE_ELEMENTS {
            return Growth::Trapped;
        }
        allowed(
            maximum.is_none_or(|max| desired <= max)
                && self.heap_allows(current, desired, TABLE_ELEMENT_BYTES),
        )
    }
}

fn allowed(yes: bool) -> Growth {
    if yes {
        Growth::Allowed
    } else {
        Growth::Refused
    }
}

impl RunData {
    /// Decides a growth: as the limiter says, or as the tape of a replayed run says (which
    /// must also be what the limiter allows now), and records the decision.
    fn growth(&mut self, own: Growth) -> Result<bool, LimiterError> {
        let decided = match &mut self.tape {
            Tape::Off => own,
            Tape::Record(r) => {
                r.grow(own);
                own
            }
            Tape::Replay(r) => match r.grow() {
                Ok(Growth::Allowed) if own != Growth::Allowed => Growth::Trapped,
                Ok(recorded) => recorded,
                Err(_) => Growth::Trapped,
            },
        };
        match decided {
            Growth::Allowed => Ok(true),
            Growth::Refused => Ok(false),
            Growth::Trapped => Err(LimiterError::ResourceLimiterDeniedAllocation),
        }
    }
}

impl RunData {
    /// A growth the limiter allowed failed after all; `retried`: for want of fuel, so the
    /// instruction asks again when the run resumes (wasmi asks the limiter first).
    fn growth_failed(&mut self, retried: bool) {
        match &mut self.tape {
            Tape::Off => {}
            Tape::Record(r) => r.grow_failed(retried),
            Tape::Replay(r) if retried => r.grow_retried(),
            Tape::Replay(_) => {}
        }
    }
}

impl ResourceLimiter for RunData {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let own = self.limits.memory_decision(current, desired, maximum);
        self.growth(own)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let own = self.limits.table_decision(current, desired, maximum);
        self.growth(own)
    }

    fn memory_grow_failed(&mut self, error: &MemoryError) -> Result<(), LimiterError> {
        self.growth_failed(matches!(error, MemoryError::OutOfFuel { .. }));
        Ok(())
    }

    fn table_grow_failed(&mut self, error: &TableError) -> Result<(), LimiterError> {
        self.growth_failed(matches!(error, TableError::OutOfFuel { .. }));
        Ok(())
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Per-run data inside the wasmi store: what the host functions work with.
pub struct RunData {
    limits: RunLimiter,
    /// The run's exported linear memory (`memory`), if it has one.
    pub(crate) memory: Option<Memory>,
    /// The run as its host calls see it.
    pub(crate) sys: RunSys,
    /// What all runs' calls share.
    pub(crate) shared: Rc<Shared>,
    /// The call the run is leaving the interpreter with.
    pending: Option<Pending>,
    /// Whether the run's calls are recorded, or answered from a recording (`crate::replay`).
    pub(crate) tape: Tape,
}

impl RunData {
    /// The run's memory limit in bytes.
    pub(crate) fn memory_limit(&self) -> usize {
        self.limits.memory_bytes
    }
}

/// What one slice of execution ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Slice {
    /// The run ended.
    Done(ExitStatus),
    /// Fuel ran out; resume with [`Task::resume`] when it is scheduled again.
    Preempted,
    /// The run made a host call the kernel must serve; resume with its result.
    Syscall(Syscall),
}

enum Suspended {
    NotStarted(Func),
    OutOfFuel(ResumableCallOutOfFuel),
    /// In a host call; whether that function returns a value (its reply).
    HostCall(ResumableCallHostTrap, bool),
    Finished,
}

pub struct Task {
    /// Boxed: a store is ~1.7 KiB, and tasks move (into the run table, within it).
    store: Box<Store<RunData>>,
    state: Suspended,
    /// Fuel consumed so far (the run's CPU use).
    fuel_used: u64,
    /// Fuel owed for kernel work its calls caused beyond their price ([`Task::owe`]), paid
    /// from its next slices.
    debt: u64,
}

pub struct TaskEngine {
    engine: Engine,
}

impl Default for TaskEngine {
    fn default() -> Self {
        Self::new(1 << 20)
    }
}

impl TaskEngine {
    /// An engine whose runs each get at most `stack_bytes` of interpreter value stack (deeper
    /// recursion traps, so a run cannot exhaust the kernel heap through its stack).
    pub fn new(stack_bytes: usize) -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager)
            .allow_start_fn(false)
            .wasm_custom_page_sizes(true)
            .set_max_stack_height(stack_bytes.max(MIN_STACK_BYTES))
            .set_max_recursion_depth((stack_bytes / 64).max(16))
            .set_max_cached_stacks(1);
        TaskEngine {
            engine: Engine::new(&config),
        }
    }

    /// Compiles and instantiates `wasm` with `limits`, linking the host functions that
    /// `link` defines. A module that is not valid wasm, imports something unknown or lacks
    /// `_start` is `invalid`; one whose memory exceeds the limit is `rejected`.
    #[cfg(test)]
    pub(crate) fn load(
        &self,
        wasm: &[u8],
        limits: TaskLimits,
        link: impl FnOnce(&mut Linker<RunData>) -> Result<(), WasmError>,
        sys: RunSys,
        shared: Rc<Shared>,
    ) -> Result<Task, LoadFailure> {
        let module = self.compile(wasm)?;
        let linker = self
            .linker(link)
            .map_err(|e| LoadFailure::Invalid(format!("host link: {e}")))?;
        self.instantiate(&module, limits, &linker, sys, shared)
    }

    /// Validates and compiles `wasm` (eagerly). The module can be instantiated many times.
    pub fn compile(&self, wasm: &[u8]) -> Result<Module, LoadFailure> {
        Module::new(&self.engine, wasm).map_err(|e| {
            let why = one_line(&e);
            // wasmi reports a translation that ran out of heap as an error like any other
            // (text only, no kind to match): the module may be fine, the kernel was full.
            if why.contains("out of system memory") {
                LoadFailure::Rejected(String::from("out of kernel memory while compiling it"))
            } else {
                LoadFailure::Invalid(format!("not a valid module: {why}"))
            }
        })
    }

    /// A linker with the host functions `link` defines, reusable for every instantiation.
    pub fn linker(
        &self,
        link: impl FnOnce(&mut Linker<RunData>) -> Result<(), WasmError>,
    ) -> Result<Linker<RunData>, WasmError> {
        let mut linker = Linker::new(&self.engine);
        link(&mut linker)?;
        Ok(linker)
    }

    /// A store for a module of this engine (every module's store data is a [`RunData`]: one
    /// store type, so wasmi's code is compiled once — flash is what a microcontroller lacks).
    fn store(&self, data: RunData) -> Store<RunData> {
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| d as &mut dyn ResourceLimiter);
        store
    }

    /// A new task running `module` within `limits`, its calls seeing `sys` and `shared`.
    pub(crate) fn instantiate(
        &self,
        module: &Module,
        limits: TaskLimits,
        linker: &Linker<RunData>,
        sys: RunSys,
        shared: Rc<Shared>,
    ) -> Result<Task, LoadFailure> {
        let data = RunData {
            limits: RunLimiter {
                memory_bytes: limits.memory_bytes,
                heap: limits.heap,
            },
            memory: None,
            sys,
            shared,
            pending: None,
            tape: Tape::Off,
        };
        let mut store = Box::new(self.store(data));
        let instance = linker
            .instantiate_and_start(&mut *store, module)
            .map_err(|e| instantiation_failure(&e, limits.memory_bytes))?;
        let entry = instance
            .get_func(&*store, ENTRY)
            .filter(|f| {
                let ty = f.ty(&*store);
                ty.params().is_empty() && ty.results().is_empty()
            })
            .ok_or_else(|| LoadFailure::Invalid(format!("no `{ENTRY}: () -> ()` export")))?;
        store.data_mut().memory = instance.get_memory(&*store, "memory");
        Ok(Task {
            store,
            state: Suspended::NotStarted(entry),
            fuel_used: 0,
            debt: 0,
        })
    }

    /// `module`, which imports nothing, instantiated as a [`Callee`] whose memory may grow to
    /// `memory_bytes` (a view's reducer). Its store data is a run's with every run-only part
    /// empty: no handles, no arguments, no grants, no tape, no pending call.
    pub(crate) fn instantiate_callee(
        &self,
        module: &Module,
        memory_bytes: usize,
        shared: Rc<Shared>,
    ) -> Result<Callee, LoadFailure> {
        let data = RunData {
            limits: RunLimiter {
                memory_bytes,
                heap: None,
            },
            memory: None,
            sys: RunSys::new(0, alloc::vec::Vec::new()),
            shared,
            pending: None,
            tape: Tape::Off,
        };
        let mut store = Box::new(self.store(data));
        // The runs' linker type, with nothing in it: the same instantiation code as runs.
        let instance = Linker::<RunData>::new(&self.engine)
            .instantiate_and_start(&mut *store, module)
            .map_err(|e| instantiation_failure(&e, memory_bytes))?;
        store.data_mut().memory = instance.get_memory(&*store, "memory");
        Ok(Callee { store, instance })
    }
}

/// How an instantiation failed: `rejected` for a limit (the run's, or the kernel heap's),
/// `invalid` for anything else.
fn instantiation_failure(e: &WasmError, memory_bytes: usize) -> LoadFailure {
    if out_of_system_memory(e) {
        LoadFailure::Rejected("not enough kernel memory for its linear memory".into())
    } else if is_limit(e) {
        LoadFailure::Rejected(format!(
            "memory limit of {memory_bytes} bytes ({})",
            one_line(e)
        ))
    } else {
        LoadFailure::Invalid(one_line(e))
    }
}

/// A module instantiated outside the scheduler ([`TaskEngine::instantiate_callee`]): no
/// entry point, no imports, its store's run-only parts empty; its exports are called to
/// completion, each call within a fuel budget. Its store holds its engine, so dropping it
/// frees the code too when the engine was its own.
pub struct Callee {
    /// Boxed, as a task's: a store is ~1.7 KiB, and callees move (into their view, and out).
    store: Box<Store<RunData>>,
    instance: wasmi::Instance,
}

impl Callee {
    /// Export `name`, a function of type `P -> R`.
    pub fn func<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &self,
        name: &str,
    ) -> Option<TypedFunc<P, R>> {
        self.instance
            .get_typed_func::<P, R>(&*self.store, name)
            .ok()
    }

    /// Calls `f` with `arg` to completion within `fuel`. `Err`: it trapped or ran out of fuel
    /// (the message says which).
    pub fn call<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &mut self,
        f: TypedFunc<P, R>,
        arg: P,
        fuel: u64,
    ) -> Result<R, String> {
        self.store
            .set_fuel(fuel)
            .map_err(|e| format!("fuel: {e}"))?;
        let result = f.call(&mut *self.store, arg).map_err(|e| format!("{e}"));
        // Done for whichever run's call made the kernel call it (`Shared::work`).
        let used = fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let work = &self.store.data().shared.work;
        work.set(work.get().saturating_add(used));
        result
    }

    /// Whether it exports its linear memory (`memory`).
    pub fn has_memory(&self) -> bool {
        self.store.data().memory.is_some()
    }

    /// Its linear memory (empty if it exports none).
    pub fn memory(&self) -> &[u8] {
        match self.store.data().memory {
            Some(m) => m.data(&*self.store),
            None => &[],
        }
    }

    /// Its linear memory, writable.
    pub fn memory_mut(&mut self) -> &mut [u8] {
        match self.store.data().memory {
            Some(m) => m.data_mut(&mut *self.store),
            None => &mut [],
        }
    }

    /// Grows its memory (in its own pages) to hold at least `bytes`, within its limit.
    pub fn grow_memory_to(&mut self, bytes: usize) -> Result<(), String> {
        let Some(memory) = self.store.data().memory else {
            return Err(String::from("it has no memory"));
        };
        let have = memory.data_size(&*self.store);
        if bytes <= have {
            return Ok(());
        }
        // In the memory's own pages (1 byte for the programs here, 64 KiB by default).
        let pages = memory.size(&*self.store).max(1);
        let page = (have as u64 / pages).max(1);
        let more = ((bytes - have) as u64).div_ceil(page);
        memory
            .grow(&mut *self.store, more)
            .map(|_| ())
            .map_err(|e| format!("{e}"))
    }
}

/// A wasmi error as one short line (some parser errors span lines and dump byte arrays).
fn one_line(e: &WasmError) -> String {
    const LIMIT: usize = 120;
    let text = e.to_string();
    let text = text.split(" - expected").next().unwrap_or_default();
    let mut out = String::with_capacity(text.len().min(LIMIT));
    for word in text.split_whitespace() {
        if out.len() + word.len() + 1 > LIMIT {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether the kernel heap, not the run's limit, refused memory.
fn out_of_system_memory(e: &WasmError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Memory(MemoryError::OutOfSystemMemory)
            | ErrorKind::Instantiation(InstantiationError::FailedToInstantiateMemory(
                MemoryError::OutOfSystemMemory
            ))
    )
}

/// Whether a wasmi error means "a limit said no".
fn is_limit(e: &WasmError) -> bool {
    let memory_limit = |m: &MemoryError| {
        matches!(
            m,
            MemoryError::ResourceLimiterDeniedAllocation
                | MemoryError::OutOfSystemMemory
                | MemoryError::OutOfBoundsGrowth
                | MemoryError::MinimumSizeOverflow
                | MemoryError::MaximumSizeOverflow
        )
    };
    match e.kind() {
        ErrorKind::Memory(m) => memory_limit(m),
        ErrorKind::Instantiation(InstantiationError::FailedToInstantiateMemory(m)) => {
            memory_limit(m)
        }
        ErrorKind::Instantiation(
            InstantiationError::TooManyInstances
            | InstantiationError::TooManyMemories
            | InstantiationError::TooManyTables,
        ) => true,
        ErrorKind::TrapCode(wasmi::TrapCode::GrowthOperationLimited) => true,
        _ => false,
    }
}

impl Task {
    /// Adds `fuel` to what the run owes: kernel work one of its calls caused that grows with
    /// data (a journal read, a view compiled), so such a call cannot buy much work cheaply.
    pub fn owe(&mut self, fuel: u64) {
        self.debt = self.debt.saturating_add(fuel);
    }

    /// Pays what the run owes out of `budget` (its slice's fuel), counted as used; what is
    /// left of the budget. A debt larger than a slice takes whole slices until it is paid, so
    /// over time the run gets no more than its share of the CPU.
    pub fn pay_debt(&mut self, budget: u64) -> u64 {
        let paid = self.debt.min(budget);
        self.debt -= paid;
        self.fuel_used += paid;
        budget - paid
    }

    pub fn fuel_used(&self) -> u64 {
        self.fuel_used
    }

    /// The run's linear memory (empty if it exports none).
    pub fn memory(&self) -> &[u8] {
        match self.store.data().memory {
            Some(m) => m.data(&*self.store),
            None => &[],
        }
    }

    pub fn data(&self) -> &RunData {
        self.store.data()
    }

    pub fn data_mut(&mut self) -> &mut RunData {
        self.store.data_mut()
    }

    /// The run's linear memory and its store data at once (what serving a call needs).
    pub fn parts(&mut self) -> (&mut [u8], &mut RunData) {
        match self.store.data().memory {
            Some(m) => m.data_and_store_mut(&mut *self.store),
            None => (&mut [], self.store.data_mut()),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, Suspended::Finished)
    }

    /// Runs the task for at most `fuel` units. `reply` is the result of the syscall the task
    /// is suspended in (ignored otherwise).
    pub fn resume(&mut self, fuel: u64, reply: i64) -> Slice {
        // An instruction that needs more fuel than a slice (a large `memory.grow`) gets what
        // it needs when resumed, or it could never complete.
        let fuel = match &self.state {
            Suspended::OutOfFuel(call) => fuel.max(call.required_fuel()),
            _ => fuel,
        };
        if self.store.set_fuel(fuel).is_err() {
            return self.end(ExitStatus::Invalid("fuel metering unavailable".into()));
        }
        let state = core::mem::replace(&mut self.state, Suspended::Finished);
        let outcome = match state {
            Suspended::NotStarted(entry) => entry.call_resumable(&mut *self.store, &[], &mut []),
            Suspended::OutOfFuel(call) => call.resume(&mut *self.store, &mut []),
            Suspended::HostCall(call, wants_result) => {
                let (mem, data) = self.parts();
                if let Tape::Record(r) = &mut data.tape {
                    r.end(mem, if wants_result { reply } else { 0 });
                }
                // Host functions declare one i64 result at most; match what the function wants.
                let input = [Val::I64(reply)];
                let inputs: &[Val] = if wants_result { &input } else { &[] };
                call.resume(&mut *self.store, inputs, &mut [])
            }
            Suspended::Finished => {
                return Slice::Done(ExitStatus::Invalid("resumed after exit".into()));
            }
        };
        self.fuel_used += fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        match outcome {
            Ok(ResumableCall::Finished) => self.end(ExitStatus::Ok(0)),
            Ok(ResumableCall::OutOfFuel(call)) => {
                self.state = Suspended::OutOfFuel(call);
                Slice::Preempted
            }
            Ok(ResumableCall::HostTrap(call)) => {
                // `exit` ends the run through wasmi's i32-exit error, which arrives here.
                if let Some(code) = call.host_error().i32_exit_status() {
                    return self.end(ExitStatus::Ok(code));
                }
                let pending = self.store.data_mut().pending.take();
                match (call.host_error().downcast_ref::<Suspend>(), pending) {
                    (Some(Suspend), Some(Pending { sys, returns })) => {
                        self.state = Suspended::HostCall(call, returns);
                        Slice::Syscall(sys)
                    }
                    _ => self.end(ExitStatus::Invalid(call.host_error().to_string())),
                }
            }
            Err(e) => self.end(classify(&e)),
        }
    }

    fn end(&mut self, status: ExitStatus) -> Slice {
        self.state = Suspended::Finished;
        Slice::Done(status)
    }
}

/// Turns a wasmi error from a running task into how the run ended.
fn classify(e: &WasmError) -> ExitStatus {
    if let Some(code) = e.i32_exit_status() {
        return ExitStatus::Ok(code);
    }
    if e.downcast_ref::<Suspend>().is_some() {
        // wasmi cannot resume a host call that replaced the entry function's frame.
        return ExitStatus::Invalid(format!(
            "`{ENTRY}` makes a host call that must wait as a tail call (return_call)"
        ));
    }
    if is_limit(e) {
        return ExitStatus::Rejected("memory limit exceeded".into());
    }
    match e.kind() {
        ErrorKind::TrapCode(code) => ExitStatus::Panic(code.to_string()),
        _ => ExitStatus::Panic(String::from(e.to_string().as_str())),
    }
}

/// Suspends the run in call `sys` (made from a host function with store data `data`, which
/// returns a value iff `returns`): returns the error the host function must return.
pub fn suspend(data: &mut RunData, sys: Syscall, returns: bool) -> WasmError {
    data.pending = Some(Pending { sys, returns });
    WasmError::host(Suspend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use wasmi::Caller;

    const SLEEP: u32 = zb_abi::syscall::nr::SLEEP;

    fn link(linker: &mut Linker<RunData>) -> Result<(), WasmError> {
        linker.func_wrap(
            HOST_MODULE,
            "exit",
            |_: Caller<'_, RunData>, code: i32| -> Result<(), WasmError> {
                Err(WasmError::i32_exit(code))
            },
        )?;
        linker.func_wrap(
            HOST_MODULE,
            "sleep",
            |mut cx: Caller<'_, RunData>, us: i64| -> Result<i64, WasmError> {
                let sys = Syscall {
                    number: SLEEP,
                    args: [us, 0, 0, 0, 0, 0],
                    call: Call::Sleep { us: us as u64 },
                };
                Err(suspend(cx.data_mut(), sys, true))
            },
        )?;
        Ok(())
    }

    struct NoClock;

    impl zb_hal::Clock for NoClock {
        fn now_us(&self) -> u64 {
            0
        }
        fn cycles(&self) -> u64 {
            0
        }
        fn tick_hz(&self) -> u32 {
            1000
        }
    }

    fn load_bytes(
        engine: &TaskEngine,
        wasm: &[u8],
        limits: TaskLimits,
    ) -> Result<Task, LoadFailure> {
        let (sys, shared) = (RunSys::new(4, Vec::new()), Shared::new(&NoClock, 4));
        engine.load(wasm, limits, link, sys, shared)
    }

    fn load(wat: &str, memory_bytes: usize) -> Result<Task, LoadFailure> {
        let wasm = wat::parse_str(wat).expect("test module is valid WAT");
        load_bytes(
            &TaskEngine::default(),
            &wasm,
            TaskLimits {
                memory_bytes,
                heap: None,
            },
        )
    }

    fn run_to_end(task: &mut Task) -> ExitStatus {
        for _ in 0..1000 {
            match task.resume(10_000, 0) {
                Slice::Done(s) => return s,
                Slice::Preempted | Slice::Syscall(_) => {}
            }
        }
        panic!("task did not finish")
    }

    #[test]
    fn returning_from_start_is_ok_0_and_exit_gives_its_code() {
        let mut t = load(r#"(module (func (export "_start")))"#, 65536).unwrap();
        assert_eq!(t.resume(1000, 0), Slice::Done(ExitStatus::Ok(0)));
        assert!(t.is_finished());
        let mut t = load(
            r#"(module (import "zb" "exit" (func $exit (param i32)))
                       (func (export "_start") (call $exit (i32.const 3))))"#,
            65536,
        )
        .unwrap();
        assert_eq!(t.resume(1000, 0), Slice::Done(ExitStatus::Ok(3)));
    }

    #[test]
    fn a_runaway_loop_is_preempted_and_resumable() {
        let mut t = load(r#"(module (func (export "_start") (loop br 0)))"#, 65536).unwrap();
        for _ in 0..5 {
            assert_eq!(t.resume(1000, 0), Slice::Preempted);
        }
        assert!(t.fuel_used() >= 4000, "fuel used: {}", t.fuel_used());
        assert!(!t.is_finished());
    }

    #[test]
    fn a_trap_is_a_panic_with_its_message() {
        let mut t = load(r#"(module (func (export "_start") unreachable))"#, 65536).unwrap();
        match t.resume(1000, 0) {
            Slice::Done(ExitStatus::Panic(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
            other => panic!("{other:?}"),
        }
        let mut t = load(
            r#"(module (func (export "_start") (drop (i32.div_s (i32.const 1) (i32.const 0)))))"#,
            65536,
        )
        .unwrap();
        assert!(matches!(
            t.resume(1000, 0),
            Slice::Done(ExitStatus::Panic(_))
        ));
        // A finished task stays finished.
        assert!(matches!(
            t.resume(1000, 0),
            Slice::Done(ExitStatus::Invalid(_))
        ));
    }

    #[test]
    fn malformed_modules_are_invalid() {
        let engine = TaskEngine::default();
        let limits = TaskLimits {
            memory_bytes: 65536,
            heap: None,
        };
        for bytes in [
            &b""[..],
            b"\0asm",
            b"garbage garbage",
            b"\0asm\x01\0\0\0\x05",
        ] {
            assert!(matches!(
                load_bytes(&engine, bytes, limits),
                Err(LoadFailure::Invalid(_))
            ));
        }
        let cases = [
            r#"(module)"#,                                                      // no _start
            r#"(module (func (export "_start") (param i32)))"#,                 // wrong type
            r#"(module (import "zb" "nope" (func)) (func (export "_start")))"#, // unknown import
            r#"(module (func $s) (start $s) (func (export "_start")))"#,        // start function
        ];
        for wat in cases {
            assert!(
                matches!(load(wat, 65536), Err(LoadFailure::Invalid(_))),
                "{wat}"
            );
        }
    }

    #[test]
    fn memory_beyond_the_limit_is_rejected() {
        // At load: 2 pages of 64 KiB against a 64 KiB limit.
        let r = load(r#"(module (memory 2) (func (export "_start")))"#, 65536);
        assert!(matches!(r, Err(LoadFailure::Rejected(_))), "{:?}", r.err());
        // At run time: grow until the limit says no.
        let mut t = load(
            r#"(module (memory 1)
                 (func (export "_start") (loop (drop (memory.grow (i32.const 1))) (br 0))))"#,
            4 * 65536,
        )
        .unwrap();
        assert!(matches!(run_to_end(&mut t), ExitStatus::Rejected(_)));
    }

    #[test]
    fn one_byte_pages_let_small_runs_fit() {
        let mut t = load(
            r#"(module (memory 100 (pagesize 1))
                 (func (export "_start") (i32.store8 (i32.const 99) (i32.const 7))))"#,
            128,
        )
        .unwrap();
        assert_eq!(t.resume(1000, 0), Slice::Done(ExitStatus::Ok(0)));
    }

    #[test]
    fn a_syscall_suspends_the_run_and_the_reply_resumes_it() {
        let mut t = load(
            r#"(module (import "zb" "sleep" (func $sleep (param i64) (result i64)))
                       (import "zb" "exit" (func $exit (param i32)))
                       (func (export "_start")
                         (call $exit (i32.wrap_i64 (call $sleep (i64.const 5))))))"#,
            65536,
        )
        .unwrap();
        assert_eq!(
            t.resume(1000, 0),
            Slice::Syscall(Syscall {
                number: SLEEP,
                args: [5, 0, 0, 0, 0, 0],
                call: Call::Sleep { us: 5 },
            })
        );
        assert_eq!(t.resume(1000, 42), Slice::Done(ExitStatus::Ok(42)));
    }

    #[test]
    fn a_callee_is_called_to_completion_within_its_fuel_and_limit() {
        let wasm = wat::parse_str(
            r#"(module (memory (export "memory") 1 (pagesize 1))
                 (func (export "inc") (param i32) (result i32)
                   (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (local.get 0)))
                   (i32.load8_u (i32.const 0)))
                 (func (export "spin") (param i32) (result i32) (loop (br 0)) (i32.const 0)))"#,
        )
        .expect("test module is valid WAT");
        let engine = TaskEngine::default();
        let module = engine.compile(&wasm).unwrap();
        let shared = Shared::new(&NoClock, 4);
        let mut c = engine.instantiate_callee(&module, 64, shared).unwrap();
        let inc = c.func::<i32, i32>("inc").unwrap();
        assert!(c.func::<(), i32>("inc").is_none(), "wrong type");
        assert_eq!(c.call(inc, 2, 1000), Ok(2));
        assert_eq!(c.call(inc, 3, 1000), Ok(5));
        assert_eq!(c.memory(), [5]);
        let spin = c.func::<i32, i32>("spin").unwrap();
        assert!(c.call(spin, 0, 1000).is_err(), "out of fuel");
        assert_eq!(c.grow_memory_to(40), Ok(()));
        assert_eq!(c.memory().len(), 40);
        c.memory_mut()[39] = 7;
        assert!(c.grow_memory_to(65).is_err(), "past its limit");
        assert_eq!(c.memory().len(), 40);
        // Imports are not satisfied: invalid.
        let needs = wat::parse_str(r#"(module (import "zb" "exit" (func (param i32))))"#)
            .expect("test module is valid WAT");
        let module = engine.compile(&needs).unwrap();
        assert!(matches!(
            engine.instantiate_callee(&module, 64, Shared::new(&NoClock, 4)),
            Err(LoadFailure::Invalid(_))
        ));
    }

    /// A `memory.grow` that would leave the kernel heap less than its headroom fails with -1
    /// (the run goes on and sees it), within the run's own limit; one that leaves enough
    /// succeeds.
    #[test]
    fn memory_growth_leaves_the_kernel_heap_its_headroom() {
        static FREE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
        fn free() -> usize {
            FREE.load(core::sync::atomic::Ordering::Relaxed)
        }
        let wasm = wat::parse_str(
            r#"(module (import "zb" "exit" (func $exit (param i32))) (memory 1)
                 (func (export "_start") (call $exit (memory.grow (i32.const 1)))))"#,
        )
        .expect("test module is valid WAT");
        let limits = TaskLimits {
            memory_bytes: 4 << 16,
            heap: Some(HeapWatch {
                free: &free,
                keep: 8 << 10,
            }),
        };
        let set = |bytes| FREE.store(bytes, core::sync::atomic::Ordering::Relaxed);
        set(usize::MAX);
        let mut t = load_bytes(&TaskEngine::default(), &wasm, limits).unwrap();
        set(65536 + (8 << 10) - 1);
        assert_eq!(run_to_end(&mut t), ExitStatus::Ok(-1));
        set(usize::MAX);
        let mut t = load_bytes(&TaskEngine::default(), &wasm, limits).unwrap();
        set(65536 + (8 << 10));
        assert_eq!(run_to_end(&mut t), ExitStatus::Ok(1));
    }
}
