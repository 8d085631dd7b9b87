//! Views' reducers, executed: the wasm side of a view (DESIGN.md §6, and the contract in
//! [`zb_abi::view`]). Which events a view folds, its height, snapshots and paging are the
//! bus's ([`zb_bus::view`]); this module runs the code.
//!
//! A reducer [`Program`] is a module in the boot image. Started ([`zb_bus::view::Reducer`]), it
//! is compiled in an engine of its own (so paging a view out frees its code) and instantiated
//! with no imports. The kernel writes each event into its input buffer and calls `reduce`, and
//! answers `scan` by calling the export of that name ([`Instance`], the [`Fold`]). Its state is
//! its linear memory, so a snapshot is the memory's bytes, and restoring one is writing them
//! back.
//!
//! Invariants: a reducer cannot hurt the kernel — every call has a fuel budget and its memory
//! a cap; a trap, a call out of fuel or a malformed answer is an error value (the bus then
//! stops the view), nothing else.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmi::{Linker, Memory, Module, Store, TypedFunc};
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;
use zb_bus::view::{Fold, Reducer};

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

/// A reducer program: its module in the boot image (compiled again at each start) and its
/// limits.
pub struct Program {
    wasm: &'static [u8],
    limits: ViewLimits,
    /// What a reducer's store holds as any run's does (a reducer makes no calls with it).
    shared: Rc<Shared>,
}

impl Program {
    pub fn new(wasm: &'static [u8], limits: ViewLimits, shared: Rc<Shared>) -> Program {
        Program {
            wasm,
            limits,
            shared,
        }
    }

    /// The module (what starting it compiles).
    pub fn wasm(&self) -> &'static [u8] {
        self.wasm
    }
}

impl Reducer for Program {
    type Fold = Instance;

    /// Compiles and instantiates the module in an engine of its own (runs' settings).
    fn start(&self) -> Result<Instance, String> {
        let engine = TaskEngine::new(self.limits.stack_bytes).into_engine();
        let module =
            Module::new(&engine, self.wasm).map_err(|e| format!("not a valid module: {e}"))?;
        if module.imports().len() > 0 {
            return Err("a reducer must import nothing".to_string());
        }
        let data = RunData::for_reducer(self.limits.memory_bytes, self.shared.clone());
        let mut store = Store::new(&engine, data);
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
        Ok(Instance {
            store,
            memory,
            input,
            reduce,
            scan,
        })
    }
}

/// A started reducer: its store (which holds its engine, so dropping it frees the code), its
/// memory, where its input buffer is, and its two calls.
pub struct Instance {
    store: Store<RunData>,
    memory: Memory,
    input: u32,
    reduce: TypedFunc<i32, i32>,
    scan: TypedFunc<i32, i32>,
}

impl Instance {
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
}

impl Fold for Instance {
    fn fold(&mut self, event: &EventView<'_>) -> Result<(), String> {
        let mut buf = alloc::vec![0u8; event.encoded_len().min(INPUT_BYTES)];
        let Ok(len) = event.encode(&mut buf) else {
            // Larger than the reducer's input buffer: it cannot see it; said once, then on.
            return Ok(());
        };
        self.call(self.reduce, &buf[..len]).map(|_| ())
    }

    fn scan(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let n = self.call(self.scan, key.as_bytes())?;
        let Ok(n) = usize::try_from(n) else {
            return Ok(None);
        };
        let mut out = alloc::vec![0u8; n.min(INPUT_BYTES)];
        self.memory
            .read(&self.store, self.input as usize, &mut out)
            .map_err(|_| String::from("its answer is outside its memory"))?;
        Ok(Some(out))
    }

    fn image(&self) -> Vec<u8> {
        self.memory.data(&self.store).to_vec()
    }

    /// Writes a memory image back (the memory grows to hold it).
    fn restore(&mut self, image: &[u8]) -> Result<(), String> {
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
