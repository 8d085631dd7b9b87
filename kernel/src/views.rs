//! Views: state folded from the journal by deterministic reducers (DESIGN.md §6, and the
//! contract in [`zb_abi::view`]).
//!
//! A [`View`] is a reducer module instantiated with no imports: the kernel writes each matching
//! event into its input buffer and calls `reduce`, and answers `scan` by calling the export of
//! that name. Its state is its linear memory, so a snapshot is the memory's bytes and the
//! height (the last sequence number folded), and restoring one is writing them back.
//!
//! A view can be *paged out* when the kernel needs heap for a run ([`View::page_out`]): its
//! code and instance are dropped (each view compiles in an engine of its own, so its code is
//! freed with it) and only its memory's bytes are kept. A paged-out view folds nothing — the
//! events stay in the journal — until it is paged in again ([`View::page_in`]: compiled anew,
//! its memory written back), and then the bus folds what it missed before it answers.
//!
//! Invariants:
//! - A view folds events in sequence order, each at most once: an event at or below its height
//!   is skipped, and a paged-out view's height does not move.
//! - A reducer cannot hurt the kernel: every call has a fuel budget and its memory a cap; a
//!   trap, a call out of fuel or a malformed answer stops the view (`failed`, reported by
//!   `scan`), nothing else.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use alloc::rc::Rc;

use wasmi::{Linker, Memory, Module, Store, TypedFunc};
use zb_abi::Error;
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;
use zb_journal::Envelope;

use crate::sys::Shared;
use crate::task::{RunData, TaskEngine};

/// Fuel for one `reduce` or `scan` call (about one unit per wasm instruction).
const FUEL_PER_CALL: u64 = 2_000_000;

/// The limits a view's reducer runs within (the runs' limits).
#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    pub memory_bytes: usize,
    pub stack_bytes: usize,
}

/// One view.
pub struct View {
    pub name: String,
    pub pattern: String,
    /// The last sequence number folded (0: none).
    pub height: u64,
    /// The height of its newest snapshot (0: none).
    pub sealed: u64,
    /// Why it stopped, if it did.
    pub failed: Option<String>,
    /// The reducer program (in the boot image), compiled again at each page-in.
    wasm: &'static [u8],
    limits: ViewLimits,
    shared: Rc<Shared>,
    state: State,
}

enum State {
    /// Boxed: a store is ~1.7 KiB, kept only while resident.
    Resident(alloc::boxed::Box<Reducer>),
    /// Paged out: the memory's bytes at `height`.
    PagedOut(Vec<u8>),
}

/// A compiled, instantiated reducer. Its store holds its engine, so dropping it frees the code.
struct Reducer {
    store: Store<RunData>,
    memory: Memory,
    input: u32,
    reduce: TypedFunc<i32, i32>,
    scan: TypedFunc<i32, i32>,
}

impl Reducer {
    /// Compiles and instantiates `wasm` in an engine of its own (runs' settings).
    fn new(wasm: &[u8], limits: ViewLimits, shared: Rc<Shared>) -> Result<Reducer, String> {
        let engine = TaskEngine::new(limits.stack_bytes).into_engine();
        let module = Module::new(&engine, wasm).map_err(|e| format!("not a valid module: {e}"))?;
        if module.imports().len() > 0 {
            return Err("a reducer must import nothing".to_string());
        }
        let mut store = Store::new(&engine, RunData::for_reducer(limits.memory_bytes, shared));
        RunData::limit(&mut store);
        let linker = Linker::<RunData>::new(&engine);
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| format!("cannot instantiate: {e}"))?;
        let missing = |what: &str| format!("it does not export {what}");
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| missing("`memory`"))?;
        let input_fn = instance
            .get_typed_func::<(), i32>(&store, "input")
            .map_err(|_| missing("`input: () -> i32`"))?;
        let reduce = instance
            .get_typed_func::<i32, i32>(&store, "reduce")
            .map_err(|_| missing("`reduce: (i32) -> i32`"))?;
        let scan = instance
            .get_typed_func::<i32, i32>(&store, "scan")
            .map_err(|_| missing("`scan: (i32) -> i32`"))?;
        store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| format!("fuel: {e}"))?;
        let input = input_fn
            .call(&mut store, ())
            .map_err(|e| format!("`input` failed: {e}"))?;
        let input = u32::try_from(input).map_err(|_| "`input` is negative".to_string())?;
        let end = input as usize + INPUT_BYTES;
        if end > memory.data_size(&store) {
            return Err(format!(
                "its input buffer (at {input}) is not {INPUT_BYTES} bytes inside its memory"
            ));
        }
        Ok(Reducer {
            store,
            memory,
            input,
            reduce,
            scan,
        })
    }

    /// Writes `input` into the reducer's buffer and calls `f` with its length.
    fn call(&mut self, f: TypedFunc<i32, i32>, input: &[u8]) -> Result<i32, String> {
        self.memory
            .write(&mut self.store, self.input as usize, input)
            .map_err(|_| "its input buffer is gone".to_string())?;
        self.store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| format!("fuel: {e}"))?;
        f.call(&mut self.store, input.len() as i32)
            .map_err(|e| format!("{e}"))
    }

    /// Writes a memory image back (the memory grows to hold it).
    fn write_memory(&mut self, image: &[u8]) -> Result<(), String> {
        let have = self.memory.data_size(&self.store);
        if image.len() > have {
            // In the memory's own pages (1 byte for the programs here, 64 KiB by default).
            let pages = self.memory.size(&self.store).max(1);
            let page = (have as u64 / pages).max(1);
            let more = ((image.len() - have) as u64).div_ceil(page);
            self.memory
                .grow(&mut self.store, more)
                .map_err(|e| format!("its memory cannot hold the snapshot: {e}"))?;
        }
        self.memory
            .write(&mut self.store, 0, image)
            .map_err(|_| "the snapshot does not fit".to_string())
    }
}

impl View {
    /// Compiles and instantiates reducer `wasm` as view `name` folding `pattern`.
    pub fn load(
        name: &str,
        pattern: &str,
        wasm: &'static [u8],
        limits: ViewLimits,
        shared: Rc<Shared>,
    ) -> Result<View, String> {
        let reducer = Reducer::new(wasm, limits, shared.clone())?;
        Ok(View {
            name: String::from(name),
            pattern: String::from(pattern),
            height: 0,
            sealed: 0,
            failed: None,
            wasm,
            limits,
            shared,
            state: State::Resident(alloc::boxed::Box::new(reducer)),
        })
    }

    /// The reducer program.
    pub fn program(&self) -> &'static [u8] {
        self.wasm
    }

    pub fn is_resident(&self) -> bool {
        matches!(self.state, State::Resident(_))
    }

    /// Drops the view's code and instance, keeping its memory's bytes; false if it was not
    /// resident or has stopped (a stopped view answers nothing anyway and is left as it is).
    pub fn page_out(&mut self) -> bool {
        if self.failed.is_some() || !self.is_resident() {
            return false;
        }
        self.state = State::PagedOut(self.memory_image());
        true
    }

    /// Compiles the reducer again and writes its memory back. On failure the view stays paged
    /// out, unchanged.
    pub fn page_in(&mut self) -> Result<(), String> {
        let State::PagedOut(image) = &self.state else {
            return Ok(());
        };
        let mut reducer = Reducer::new(self.wasm, self.limits, self.shared.clone())?;
        reducer.write_memory(image)?;
        self.state = State::Resident(alloc::boxed::Box::new(reducer));
        Ok(())
    }

    /// Folds event `seq` if it matches and is above the height (not while paged out: the
    /// event is folded when the view is paged in and caught up).
    pub fn apply(&mut self, seq: u64, event: &Envelope, headers: &str) {
        if self.failed.is_some() || seq <= self.height {
            return;
        }
        let State::Resident(reducer) = &mut self.state else {
            return;
        };
        self.height = seq;
        if !zb_bus::subject::matches(&self.pattern, &event.name) {
            return;
        }
        let view = EventView {
            seq,
            ts_us: event.ts_us,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            version: event.version,
            attempt: 1,
            name: &event.name,
            source: &event.source,
            tenant: &event.tenant,
            headers,
            payload: &event.payload,
        };
        let mut buf = alloc::vec![0u8; view.encoded_len().min(INPUT_BYTES)];
        let Ok(len) = view.encode(&mut buf) else {
            // Larger than the reducer's input buffer: it cannot see it; said once, then on.
            return;
        };
        if let Err(why) = reducer.call(reducer.reduce, &buf[..len]) {
            self.failed = Some(format!("reduce of event {seq} failed: {why}"));
        }
    }

    /// The view's answer for `key`.
    pub fn scan(&mut self, key: &str) -> Result<Vec<u8>, (Error, String)> {
        if let Some(why) = &self.failed {
            return Err((Error::Corrupt, format!("view {} stopped: {why}", self.name)));
        }
        if key.len() > INPUT_BYTES {
            return Err((Error::TooLarge, String::from("the key is too long")));
        }
        let State::Resident(reducer) = &mut self.state else {
            return Err((
                Error::OutOfMemory,
                format!("view {} is paged out", self.name),
            ));
        };
        let n = match reducer.call(reducer.scan, key.as_bytes()) {
            Ok(n) => n,
            Err(why) => {
                self.failed = Some(format!("scan failed: {why}"));
                return Err((Error::Corrupt, format!("view {}: scan failed", self.name)));
            }
        };
        if n < 0 {
            return Err((
                Error::NotFound,
                format!("view {} has nothing for {key:?}", self.name),
            ));
        }
        let n = (n as usize).min(INPUT_BYTES);
        let mut out = alloc::vec![0u8; n];
        reducer
            .memory
            .read(&reducer.store, reducer.input as usize, &mut out)
            .map_err(|_| {
                (
                    Error::Corrupt,
                    String::from("its answer is outside its memory"),
                )
            })?;
        Ok(out)
    }

    /// The reducer's memory (at `height`), for a snapshot.
    pub fn memory_image(&self) -> Vec<u8> {
        match &self.state {
            State::Resident(r) => r.memory.data(&r.store).to_vec(),
            State::PagedOut(image) => image.clone(),
        }
    }

    /// Restores a snapshot taken at `height`: the memory's bytes (it grows to hold them).
    pub fn restore(&mut self, height: u64, image: &[u8]) -> Result<(), String> {
        match &mut self.state {
            State::Resident(r) => r.write_memory(image)?,
            State::PagedOut(kept) => *kept = image.to_vec(),
        }
        self.height = height;
        self.sealed = height;
        Ok(())
    }
}
