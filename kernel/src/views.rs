//! Views' reducers, executed: the wasm side of a view (DESIGN.md §6, and the contract in
//! [`zb_abi::view`]). Which events a view folds, its height, snapshots and paging are the
//! bus's ([`zb_bus::view`]); this module runs the code.
//!
//! A reducer [`Program`] is a module in the boot image. Started ([`zb_bus::view::Reducer`]), it
//! is compiled in an engine of its own (so paging a view out frees its code) and instantiated
//! through the task engine as a [`Callee`] — the runs' settings and limits, none of a run's
//! data — with no imports. The kernel writes each event into its input buffer and calls
//! `reduce`, and answers `scan` by calling the export of that name ([`Instance`], the
//! [`Fold`]). Its state is its linear memory, so a snapshot is the memory's bytes, and
//! restoring one is writing them back.
//!
//! Invariants: a reducer cannot hurt the kernel — every call has a fuel budget and its memory
//! a cap; a trap, a call out of fuel or a malformed answer is an error value (the bus then
//! stops the view), nothing else.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmi::TypedFunc;
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;
use zb_bus::view::{Fold, Reducer};

use crate::run::LoadFailure;
use crate::sys::Shared;
use crate::task::{Callee, TaskEngine};

/// Fuel for one `reduce` or `scan` call (about one unit per wasm instruction).
const FUEL_PER_CALL: u64 = 2_000_000;

/// Fuel a run is charged per byte of a reducer module its call makes the kernel compile
/// (wasmi translates a byte in about the time it executes a few instructions).
const COMPILE_FUEL_PER_BYTE: u64 = 4;

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
    /// What a callee's store holds as any run's does (a callee makes no calls with it).
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

    /// Compiles and instantiates the module in an engine of its own.
    fn start(&self) -> Result<Instance, String> {
        let why = |e: LoadFailure| {
            let (LoadFailure::Invalid(why) | LoadFailure::Rejected(why)) = e;
            why
        };
        // Compiling is work in proportion to the module, done for the run whose call
        // started the view (`Shared::work`).
        let work = &self.shared.work;
        work.set(
            work.get()
                .saturating_add(self.wasm.len() as u64 * COMPILE_FUEL_PER_BYTE),
        );
        let engine = TaskEngine::new(self.limits.stack_bytes);
        let module = engine.compile(self.wasm).map_err(why)?;
        if module.imports().len() > 0 {
            return Err("a reducer must import nothing".to_string());
        }
        let mut callee = engine
            .instantiate_callee(&module, self.limits.memory_bytes, self.shared.clone())
            .map_err(|e| format!("cannot instantiate: {}", why(e)))?;
        let missing = |what: &str| format!("it does not export {what}");
        if !callee.has_memory() {
            return Err(missing("`memory`"));
        }
        let input_fn = callee
            .func::<(), i32>("input")
            .ok_or_else(|| missing("`input: () -> i32`"))?;
        let reduce = callee
            .func::<i32, i32>("reduce")
            .ok_or_else(|| missing("`reduce: (i32) -> i32`"))?;
        let scan = callee
            .func::<i32, i32>("scan")
            .ok_or_else(|| missing("`scan: (i32) -> i32`"))?;
        let input = callee
            .call(input_fn, (), FUEL_PER_CALL)
            .map_err(|e| format!("`input` failed: {e}"))?;
        let input = u32::try_from(input).map_err(|_| "`input` is negative".to_string())?;
        let end = input as usize + INPUT_BYTES;
        if end > callee.memory().len() {
            return Err(format!(
                "its input buffer (at {input}) is not {INPUT_BYTES} bytes inside its memory"
            ));
        }
        Ok(Instance {
            callee,
            input,
            reduce,
            scan,
        })
    }
}

/// A started reducer: its instance, where its input buffer is, and its two calls.
pub struct Instance {
    callee: Callee,
    input: u32,
    reduce: TypedFunc<i32, i32>,
    scan: TypedFunc<i32, i32>,
}

impl Instance {
    /// Writes `input` into the reducer's buffer and calls `f` with its length.
    fn call(&mut self, f: TypedFunc<i32, i32>, input: &[u8]) -> Result<i32, String> {
        let start = self.input as usize;
        self.callee
            .memory_mut()
            .get_mut(start..start + input.len())
            .ok_or_else(|| "its input buffer is gone".to_string())?
            .copy_from_slice(input);
        self.callee.call(f, input.len() as i32, FUEL_PER_CALL)
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
        let start = self.input as usize;
        let answer = self
            .callee
            .memory()
            .get(start..start + n.min(INPUT_BYTES))
            .ok_or_else(|| String::from("its answer is outside its memory"))?;
        Ok(Some(answer.to_vec()))
    }

    fn image(&self) -> Vec<u8> {
        self.callee.memory().to_vec()
    }

    fn image_len(&self) -> usize {
        self.callee.memory().len()
    }

    /// Writes a memory image back (the memory grows to hold it).
    fn restore(&mut self, image: &[u8]) -> Result<(), String> {
        self.callee
            .grow_memory_to(image.len())
            .map_err(|e| format!("its memory cannot hold the snapshot: {e}"))?;
        self.callee
            .memory_mut()
            .get_mut(..image.len())
            .ok_or_else(|| "the snapshot does not fit".to_string())?
            .copy_from_slice(image);
        Ok(())
    }
}
