//! ZeroBus OS HAL for STM32F405/F407 boards (Cortex-M4F), and QEMU's netduinoplus2 model.
//!
//! [`init`] brings the chip up — clock, USART1 console, SysTick, heap, the `/data` flash — and
//! returns the [`Board`] platform the kernel runs on.
//!
//! | module | job |
//! |---|---|
//! | [`clock`] | core clock choice, the TIM2 monotonic clock, the SysTick wake-up tick |
//! | [`serial`] | the USART1 console (PA9 TX, PA10 RX, 115200 8N1) and the federation link's USART2 (PA2/PA3), interrupt-driven input |
//! | [`args`] | boot arguments (QEMU's `-append`, by semihosting) |
//! | [`power`] | shutdown (semihosting exit under QEMU or a debugger) and reset |
//! | [`storage`] | the block device behind `/data`: flash sector 1, or RAM modelling flash under QEMU |
//!
//! Board facts (DESIGN.md §8): the core runs from the 16 MHz HSI — QEMU models neither the
//! RCC nor the PLL, and waiting for a PLL lock there hangs. QEMU's netduinoplus2 clocks its
//! CPU and SysTick at a fixed 168 MHz whatever RCC says, so the `qemu` feature selects that
//! figure.
//!
//! Memory (see `boot/stm32f4/memory.x`): the kernel stack is the bottom 20 KiB of SRAM (an
//! overflow runs off the start of SRAM and faults); then .data and .bss; then the kernel heap,
//! everything from cortex-m-rt's `__sheap` to the end of SRAM (~107 KiB), plus the RAM outside
//! SRAM that nothing else uses (`storage::spare_ram`: 48 KiB of CCM on a board, 13 KiB under
//! QEMU) as a second region: runs' wasm memories
//! and compiled code live there. The 64 KiB CCM holds only, on a board, the 16 KiB
//! flash-sector buffer of [`storage`] (QEMU 7.2 does not model the CCM; under QEMU `/data` is
//! RAM that QEMU has beyond the F405's 128 KiB: see [`storage`]). Flash: the vector table in
//! sector 0, `/data` in sector 1 and the journal in sectors 2-3 on a board, code from sector 4.
//!
//! Invariants: [`init`] runs once, first thing in `main`; interrupt handlers never allocate.
#![no_std]

pub mod args;
pub mod clock;
pub mod power;
pub mod serial;
pub mod storage;

use zb_hal::{Clock, Console, Cpu, KernelHeap, MemoryReport, Platform, Power};

/// SRAM1+SRAM2 of the STM32F405 (the 64 KiB CCM is not used).
pub const RAM_BYTES: u64 = 128 * 1024;

unsafe extern "C" {
    /// The first byte of SRAM after .data, .bss and .uninit (cortex-m-rt's link.x).
    static mut __sheap: u8;
    /// One past the last byte of SRAM: `ORIGIN(RAM) + LENGTH(RAM)` (cortex-m-rt's link.x).
    static _ram_end: u8;
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::new();
/// The heap's reserve for a run that exhausts it (`zb_hal::KernelHeap::arm_reserve`): enough
/// for the kernel to finish the slice and end the run. (2 KiB was not: a compile or an emit
/// that ran the heap out kept allocating past it, and the next failure was a kernel panic;
/// the runs suite's memory-pressure check holds this.)
const HEAP_RESERVE: usize = 6 << 10;

pub struct Board;
static BOARD: Board = Board;

/// Brings up the chip. Call first thing in `main`.
pub fn init() -> &'static Board {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        panic!("zb_hal_stm32f4::init called twice");
    };
    // SAFETY: taken exactly once, here; the HAL modules below are the only users and each
    // touches only its own peripheral's registers.
    let dp = unsafe { stm32f4::stm32f405::Peripherals::steal() };
    clock::init(&mut core.SYST, &dp);
    serial::init(&dp);
    serial::init_link(&dp);

    let heap_start = &raw mut __sheap;
    let heap_bytes = (&raw const _ram_end)
        .addr()
        .saturating_sub(heap_start.addr());
    // SAFETY: `__sheap.._ram_end` is the part of SRAM the linker left to us: after .data,
    // .bss and .uninit, up to the end of the RAM region; the stack is in its own region below
    // RAM (memory.x), so nothing else uses it. It is handed to the heap once (this code runs once,
    // guarded by `Peripherals::take` above) for the rest of the program.
    unsafe { HEAP.init(heap_start, heap_bytes) };
    // Nothing is allocated yet, so this cannot fail (if it did, there would be no reserve).
    HEAP.arm_reserve(HEAP_RESERVE);
    storage::init();
    let (spare, spare_bytes) = storage::spare_ram();
    // SAFETY: `spare_ram` is RAM outside SRAM that nothing else uses (QEMU's extra SRAM past
    // the flash models, or the CCM past the flash buffer: memory.x keeps `.ccm` within it), the
    // CCM's clock is on (`storage::init`), and this runs once.
    unsafe { HEAP.add_region(spare, spare_bytes) };

    // SAFETY: all interrupt handlers are installed (vector table) and their state is
    // initialised above.
    unsafe { cortex_m::interrupt::enable() };
    &BOARD
}

impl Platform for Board {
    fn name(&self) -> &'static str {
        "stm32f4"
    }

    fn machine(&self) -> &'static str {
        if cfg!(feature = "qemu") {
            "STM32F405 (Cortex-M4F) on QEMU netduinoplus2, 168 MHz"
        } else {
            "STM32F405/F407 (Cortex-M4F), 16 MHz HSI"
        }
    }

    fn console(&self) -> &dyn Console {
        &serial::USART1_CONSOLE
    }

    fn clock(&self) -> &dyn Clock {
        &clock::CLOCK
    }

    fn cpu(&self) -> &dyn Cpu {
        &CortexM
    }

    fn journal(&self) -> Option<&dyn zb_hal::log::LogStorage> {
        storage::journal()
    }

    fn heap(&self) -> Option<&KernelHeap> {
        Some(&HEAP)
    }

    fn memory(&self) -> MemoryReport {
        MemoryReport {
            ram_total: RAM_BYTES,
            heap: HEAP.stats(),
            frames: None,
        }
    }

    fn power(&self) -> &dyn Power {
        &power::POWER
    }

    fn boot_args(&self) -> &'static str {
        args::boot_args()
    }

    fn drivers(&self) -> &'static [&'static str] {
        if self.block().is_some() {
            &["stm32-usart", "cortex-m-systick", storage::DRIVER]
        } else {
            &["stm32-usart", "cortex-m-systick"]
        }
    }

    fn block(&self) -> Option<&dyn zb_hal::BlockDevice> {
        storage::device()
    }
}

struct CortexM;

impl Cpu for CortexM {
    fn disable_interrupts(&self) -> bool {
        let was = cortex_m::register::primask::read().is_inactive();
        cortex_m::interrupt::disable();
        was
    }

    fn enable_interrupts(&self) {
        // SAFETY: no critical section is open in the kernel's main context when it calls this.
        unsafe { cortex_m::interrupt::enable() };
    }

    fn idle(&self, work_pending: &dyn Fn() -> bool) {
        cortex_m::interrupt::disable();
        if !work_pending() {
            // WFI wakes on a pending interrupt even while PRIMASK masks it, so an interrupt
            // that arrived after the check is not lost; it is taken once we re-enable below.
            cortex_m::asm::wfi();
        }
        // SAFETY: we are in the kernel's main context, not inside a critical section.
        unsafe { cortex_m::interrupt::enable() };
    }
}

/// Last-resort panic output before the kernel has the platform.
pub fn early_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    cortex_m::interrupt::disable();
    let _ = write!(serial::PanicWriter, "\r\n!!! EARLY BOOT PANIC: {info}\r\n");
    power::POWER.shutdown(false)
}
