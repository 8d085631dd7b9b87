//! ZeroBus OS HAL for a browser tab: the kernel, built for `wasm32-unknown-unknown`, runs in
//! a dedicated Web Worker, and its devices are the worker's JavaScript glue (`boot/web/www/
//! worker.js`), reached through plain wasm imports (module `hal`, [`glue`]).
//!
//! | module | job |
//! |---|---|
//! | [`glue`] | the imports the worker's JavaScript provides, and nothing else |
//! | [`terminal`] | the console: output posted to the page's xterm.js, input pushed in by the worker |
//! | [`clock`] | `performance.now()` as the monotonic clock, `Date.now()` as the wall clock |
//! | [`storage`] | `/data` and the journal as files of the Origin Private File System |
//!
//! There are no interrupts: the worker calls into the kernel (`zb_turn`, `zb_input`) from its
//! event loop, one call at a time, and the kernel returns to it when idle (the boot crate
//! drives the kernel's `Node` one turn at a time, never `Cpu::idle`). So "masking interrupts"
//! is a no-op and [`Cpu::idle`] returns at once.
//!
//! Memory: the wasm module's linear memory. [`init`] grows it by [`HEAP_BYTES`] and hands that
//! to the [`KernelHeap`]; the Rust stack sits below the data segment where the linker put it.
//!
//! Invariants: [`init`] runs once, before anything allocates; the worker is single-threaded,
//! so no call into the kernel is ever re-entered from JavaScript.
#![no_std]

extern crate alloc;

pub mod clock;
pub mod glue;
pub mod storage;
pub mod terminal;

use zb_hal::{Clock, Console, Cpu, KernelHeap, MemoryReport, Platform, Power};

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::new();

/// The kernel heap: 64 MiB of linear memory (a browser tab has room to spare; the runs' wasm
/// memories, compiled code and the vfs cache all live here).
pub const HEAP_BYTES: usize = 64 << 20;
/// The heap's reserve for a run that exhausts it (`zb_hal::KernelHeap::arm_reserve`).
const HEAP_RESERVE: usize = 64 << 10;
const PAGE: usize = 64 << 10;

/// The browser platform.
pub struct Browser {
    machine: spin::Once<&'static str>,
}

static BROWSER: Browser = Browser {
    machine: spin::Once::new(),
};

/// Brings the platform up: the heap, the clock's origin, the storage files. Call first thing.
pub fn init() -> &'static Browser {
    let pages = HEAP_BYTES / PAGE;
    let before = core::arch::wasm32::memory_grow(0, pages);
    if before == usize::MAX {
        glue::fail(b"cannot grow the wasm memory for the kernel heap");
    }
    let start = (before * PAGE) as *mut u8;
    // SAFETY: `memory_grow` just added `HEAP_BYTES` of fresh linear memory at `start`, past
    // everything the linker placed (stack, data, bss); nothing else grows or uses it, and
    // this runs once (the boot crate's `zb_boot` is the only caller and refuses a second
    // call).
    unsafe { HEAP.init(start, HEAP_BYTES) };
    // Nothing is allocated yet, so this cannot fail.
    HEAP.arm_reserve(HEAP_RESERVE);
    clock::init();
    storage::init();
    BROWSER.machine.call_once(|| {
        let s = alloc::format!(
            "browser tab, {} (wasm32 in a Web Worker)",
            glue::user_agent()
        );
        alloc::boxed::Box::leak(s.into_boxed_str())
    });
    &BROWSER
}

impl Platform for Browser {
    fn name(&self) -> &'static str {
        "web"
    }

    fn machine(&self) -> &'static str {
        self.machine.get().copied().unwrap_or("browser tab")
    }

    fn console(&self) -> &dyn Console {
        &terminal::TERMINAL
    }

    fn clock(&self) -> &dyn Clock {
        &clock::CLOCK
    }

    fn cpu(&self) -> &dyn Cpu {
        &Worker
    }

    fn memory(&self) -> MemoryReport {
        MemoryReport {
            ram_total: (core::arch::wasm32::memory_size(0) * PAGE) as u64,
            heap: HEAP.stats(),
            frames: None,
        }
    }

    fn power(&self) -> &dyn Power {
        &glue::POWER
    }

    fn block(&self) -> Option<&dyn zb_hal::BlockDevice> {
        storage::data().map(|d| d as _)
    }

    fn journal(&self) -> Option<&dyn zb_hal::log::LogStorage> {
        storage::journal()
    }

    fn heap(&self) -> Option<&KernelHeap> {
        Some(&HEAP)
    }

    fn wall_clock_secs(&self) -> Option<u64> {
        Some(clock::wall_secs())
    }

    fn boot_args(&self) -> &'static str {
        glue::boot_args()
    }

    fn drivers(&self) -> &'static [&'static str] {
        if storage::data().is_some() {
            &["web-terminal", "web-clock", storage::DRIVER]
        } else {
            &["web-terminal", "web-clock"]
        }
    }
}

/// The worker's thread: nothing to mask, nothing to wait for here (see the module doc).
struct Worker;

impl Cpu for Worker {
    fn disable_interrupts(&self) -> bool {
        false
    }

    fn enable_interrupts(&self) {}

    fn idle(&self, _work_pending: &dyn Fn() -> bool) {}
}

/// Last-resort panic output before the kernel has the platform.
pub fn early_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let _ = write!(
        terminal::PanicWriter,
        "\r\n!!! EARLY BOOT PANIC: {info}\r\n"
    );
    zb_hal::Power::shutdown(&glue::POWER, false)
}
