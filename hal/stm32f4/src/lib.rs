//! ZeroBus OS HAL for STM32F405/F407 boards (Cortex-M4F), and QEMU's netduinoplus2 model.
//!
//! [`init`] brings the chip up — clock, USART1 console, SysTick, heap — and returns the
//! [`Board`] platform the kernel runs on.
//!
//! | module | job |
//! |---|---|
//! | [`clock`] | core clock choice, the TIM2 monotonic clock, the SysTick wake-up tick |
//! | [`serial`] | the USART1 console (PA9 TX, PA10 RX, 115200 8N1), interrupt-driven input |
//! | [`power`] | shutdown (semihosting exit under QEMU or a debugger) and reset |
//!
//! Board facts (DESIGN.md §8): the core runs from the 16 MHz HSI — QEMU models neither the
//! RCC nor the PLL, and waiting for a PLL lock there hangs. QEMU's netduinoplus2 clocks its
//! CPU and SysTick at a fixed 168 MHz whatever RCC says, so the `qemu` feature selects that
//! figure.
//!
//! Invariants: [`init`] runs once, first thing in `main`; interrupt handlers never allocate.
#![no_std]

pub mod clock;
pub mod power;
pub mod serial;

use core::mem::MaybeUninit;

use zb_hal::{Clock, Console, Cpu, KernelHeap, MemoryReport, Platform, Power};

/// SRAM1+SRAM2 of the STM32F405 (the 64 KiB CCM is not used yet).
pub const RAM_BYTES: u64 = 128 * 1024;
/// The kernel heap; the rest of RAM holds .data/.bss and the stack.
pub const HEAP_BYTES: usize = 64 * 1024;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::new();

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

    static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
    // SAFETY: HEAP_MEM is referenced only here, once (guarded by `Peripherals::take` above),
    // and handed over to the heap for the rest of the program.
    unsafe { HEAP.init((&raw mut HEAP_MEM).cast(), HEAP_BYTES) };

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
