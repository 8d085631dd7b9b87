//! Views in the kernel heap: built at boot from the image's declarations
//! ([`Kernel::open_views`]), asked and sealed ([`Kernel::scan_view`], [`Kernel::seal_view`]) —
//! paged in first when the heap can take the reducer (admitted as a program is), and on a small
//! heap paged out again afterwards, so that between uses they neither hold the heap nor cut it
//! into pieces. What a view is and does is the bus's (`zb_bus::view`); its reducer runs in
//! `crate::views`.
//!
//! Invariants: a view is paged in only after admission said the heap can hold it; a seal is
//! refused, not attempted, when the heap cannot hold the snapshot's events.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::Error;

use crate::bus::EventBus;
use crate::kernel::Kernel;
use crate::run::LoadFailure;
use crate::views::{Program, ViewLimits};

impl Kernel {
    /// What view `view` says about `key` (a run's `scan`, and the shell's).
    pub(crate) fn scan_view(&mut self, view: &str, key: &str) -> Result<Vec<u8>, (Error, String)> {
        if view.len() > zb_abi::view::MAX_VIEW_NAME || key.len() > zb_abi::view::INPUT_BYTES {
            return Err((
                Error::TooLarge,
                String::from("the view name or key is too long"),
            ));
        }
        self.using_view(view, |k| k.bus_mut()?.scan(view, key))
    }

    /// Snapshots view `view` at its height (a run's `seal`, and the shell's).
    pub(crate) fn seal_view(&mut self, view: &str) -> Result<u64, (Error, String)> {
        if view.len() > zb_abi::view::MAX_VIEW_NAME {
            return Err((Error::TooLarge, String::from("the view name is too long")));
        }
        let now = self.shared.clock.now_us();
        self.using_view(view, |k| {
            k.bus_mut()?.current_view(view)?;
            // A snapshot is queued as hex events (twice the memory's bytes, with a copy of
            // the memory while they are made, and a commit's buffer): refused while the heap
            // cannot take that, rather than run the kernel out of memory.
            if let (Some(free), Some(wasm)) = (
                k.heap_free,
                k.bus.as_ref().and_then(|b| b.view(view)).map(|v| v.reducer().wasm()),
            ) {
                let need = crate::module_size::declared_memory(wasm)
                    .saturating_mul(4)
                    .saturating_add(4096);
                if need > free() {
                    return Err((
                        Error::OutOfMemory,
                        format!(
                            "not enough kernel memory to seal view {view} now (needs about {}, {} free)",
                            zb_abi::fmt::Bytes(need as u64),
                            zb_abi::fmt::Bytes(free() as u64)
                        ),
                    ));
                }
            }
            k.bus_mut()?.seal(view, now)
        })
    }

    fn bus_mut(&mut self) -> Result<&mut EventBus, (Error, String)> {
        self.bus.as_mut().ok_or((Error::Unsupported, String::new()))
    }

    /// Does `work` with view `view` (paged in first if it was out, when the heap can take it),
    /// then, on a small heap (the config keeps no compiled code), pages views out again:
    /// resident only while they work, they neither hold the heap nor cut it into pieces
    /// between uses. The next use compiles the reducer again and catches up.
    fn using_view<T>(
        &mut self,
        view: &str,
        work: impl FnOnce(&mut Self) -> Result<T, (Error, String)>,
    ) -> Result<T, (Error, String)> {
        self.admit_view(view)?;
        let result = work(self);
        self.release_views();
        result
    }

    /// Pages views out, on a small heap (see [`Kernel::using_view`]).
    fn release_views(&mut self) {
        if !self.config.keep_compiled
            && let Some(bus) = self.bus.as_mut()
        {
            bus.page_out_views();
        }
    }

    /// Refuses to page view `name` back in when the heap clearly cannot hold it (as a program
    /// is refused: [`Kernel::admit`]); nothing to do for a resident view.
    fn admit_view(&mut self, name: &str) -> Result<(), (Error, String)> {
        let paged_out = self
            .bus
            .as_ref()
            .and_then(|b| b.view(name))
            .filter(|v| !v.is_resident());
        let Some(wasm) = paged_out.map(|v| v.reducer().wasm()) else {
            return Ok(());
        };
        self.admit_reducer(wasm).map_err(|e| {
            let (LoadFailure::Invalid(why) | LoadFailure::Rejected(why)) = e;
            (
                Error::OutOfMemory,
                format!("view {name} was paged out to free memory and cannot be loaded now: {why}"),
            )
        })
    }

    /// Loads the views the boot image declares (`/etc/views/<name>.view`); a line for the boot
    /// log per view. Never inlined: building a view compiles its reducer, whose stack frames
    /// must not stay in the boot loop's frame (under every call the kernel serves afterwards).
    #[inline(never)]
    pub fn open_views(&mut self, platform: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let limits = ViewLimits {
            memory_bytes: self.config.limits.memory_bytes,
            stack_bytes: self.config.limits.stack_bytes,
        };
        let shared = self.shared.clone();
        let declared: Vec<&'static str> = self
            .programs()
            .filter(|p| p.starts_with(zb_abi::view::VIEW_DIR) && p.ends_with(".view"))
            .collect();
        for path in declared {
            let name = path
                .trim_start_matches(zb_abi::view::VIEW_DIR)
                .trim_end_matches(".view");
            let result = (|| {
                let text = self
                    .programs_get(path)
                    .and_then(|t| core::str::from_utf8(t).ok())
                    .ok_or_else(|| String::from("not UTF-8 text"))?;
                let spec = zb_abi::view::ViewSpec::parse(text)
                    .map_err(|line| format!("cannot read {line:?}"))?;
                if !spec.on(platform) {
                    return Ok(String::new());
                }
                let wasm = self
                    .programs_get(&format!("/bin/{}", spec.program))
                    .ok_or_else(|| format!("no program /bin/{}", spec.program))?;
                let bus = self
                    .bus
                    .as_mut()
                    .ok_or_else(|| String::from("there is no journal"))?;
                bus.add_view(
                    name,
                    spec.pattern,
                    Program::new(wasm, limits, shared.clone()),
                )
            })();
            match result {
                Ok(line) if line.is_empty() => {}
                Ok(line) => lines.push(line),
                Err(why) => lines.push(format!("view {name}: not loaded: {why}")),
            }
        }
        // Built from its snapshot and the journal; on a small heap, out until it is asked.
        self.release_views();
        lines
    }
}
