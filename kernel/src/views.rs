//! Views: state folded from the journal by deterministic reducers (DESIGN.md §6, and the
//! contract in [`zb_abi::view`]).
//!
//! A [`View`] is a reducer module instantiated once, with no imports: the kernel writes each
//! matching event into its input buffer and calls `reduce`, and answers `scan` by calling the
//! export of that name. Its state is its linear memory, so a snapshot is the memory's bytes and
//! the height (the last sequence number folded), and restoring one is writing them back.
//!
//! Invariants:
//! - A view folds events in sequence order, each at most once: an event at or below its height
//!   is skipped.
//! - A reducer cannot hurt the kernel: every call has a fuel budget and its memory a cap; a
//!   trap, a call out of fuel or a malformed answer stops the view (`failed`, reported by
//!   `scan`), nothing else.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use alloc::rc::Rc;

use wasmi::{Engine, Linker, Memory, Module, Store, TypedFunc};
use zb_abi::Error;
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;
use zb_journal::Envelope;

use crate::sys::Shared;
use crate::task::{RunData, TaskEngine};

/// Fuel for one `reduce` or `scan` call (about one unit per wasm instruction).
const FUEL_PER_CALL: u64 = 2_000_000;

/// One view.
pub struct View {
    pub name: String,
    pub pattern: String,
    store: Store<RunData>,
    memory: Memory,
    input: u32,
    reduce: TypedFunc<i32, i32>,
    scan: TypedFunc<i32, i32>,
    /// The last sequence number folded (0: none).
    pub height: u64,
    /// The height of its newest snapshot (0: none).
    pub sealed: u64,
    /// Why it stopped, if it did.
    pub failed: Option<String>,
}

/// The engine views are compiled in (one for all; views live as long as the kernel): the
/// settings runs have (`crate::task::TaskEngine`).
pub struct ViewEngine {
    engine: Engine,
}

impl Default for ViewEngine {
    fn default() -> Self {
        ViewEngine {
            engine: TaskEngine::default().into_engine(),
        }
    }
}

impl ViewEngine {
    /// Compiles and instantiates reducer `wasm` as view `name` folding `pattern`, with at most
    /// `memory_bytes` of linear memory.
    pub fn load(
        &self,
        name: &str,
        pattern: &str,
        wasm: &[u8],
        memory_bytes: usize,
        shared: Rc<Shared>,
    ) -> Result<View, String> {
        let module =
            Module::new(&self.engine, wasm).map_err(|e| format!("not a valid module: {e}"))?;
        if module.imports().len() > 0 {
            return Err("a reducer must import nothing".to_string());
        }
        let mut store = Store::new(&self.engine, RunData::for_reducer(memory_bytes, shared));
        RunData::limit(&mut store);
        let linker = Linker::<RunData>::new(&self.engine);
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
        Ok(View {
            name: String::from(name),
            pattern: String::from(pattern),
            store,
            memory,
            input,
            reduce,
            scan,
            height: 0,
            sealed: 0,
            failed: None,
        })
    }
}

impl View {
    /// Folds event `seq` if it matches and is above the height.
    pub fn apply(&mut self, seq: u64, event: &Envelope, headers: &str) {
        if self.failed.is_some() || seq <= self.height {
            return;
        }
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
        if let Err(why) = self.call(self.reduce, &buf[..len]) {
            self.failed = Some(format!("reduce of event {seq} failed: {why}"));
        }
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

    /// The view's answer for `key`.
    pub fn scan(&mut self, key: &str) -> Result<Vec<u8>, (Error, String)> {
        if let Some(why) = &self.failed {
            return Err((Error::Corrupt, format!("view {} stopped: {why}", self.name)));
        }
        if key.len() > INPUT_BYTES {
            return Err((Error::TooLarge, String::from("the key is too long")));
        }
        let n = match self.call(self.scan, key.as_bytes()) {
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
        self.memory
            .read(&self.store, self.input as usize, &mut out)
            .map_err(|_| {
                (
                    Error::Corrupt,
                    String::from("its answer is outside its memory"),
                )
            })?;
        Ok(out)
    }

    /// The reducer's memory, for a snapshot.
    pub fn memory_image(&self) -> Vec<u8> {
        self.memory.data(&self.store).to_vec()
    }

    /// Restores a snapshot taken at `height`: the memory's bytes (it grows to hold them).
    pub fn restore(&mut self, height: u64, image: &[u8]) -> Result<(), String> {
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
            .map_err(|_| "the snapshot does not fit".to_string())?;
        self.height = height;
        self.sealed = height;
        Ok(())
    }
}
