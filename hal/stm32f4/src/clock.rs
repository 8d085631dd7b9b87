//! Time: SysTick, clocked by the core, interrupts at 1 kHz; sub-millisecond time comes from
//! SysTick's current value (there is no cycle counter under QEMU: it does not model the DWT).

use core::cell::Cell;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use zb_hal::Clock;

/// The core clock: QEMU's fixed 168 MHz, or the 16 MHz HSI on a board.
pub const CORE_HZ: u32 = if cfg!(feature = "qemu") {
    168_000_000
} else {
    16_000_000
};
pub const TICK_HZ: u32 = 1000;
const RELOAD: u32 = CORE_HZ / TICK_HZ - 1;

/// Milliseconds since `init`. A `u64` behind an interrupt-free cell: Cortex-M has no 64-bit
/// atomics, and a 32-bit count would wrap after 49 days.
static TICKS: cortex_m::interrupt::Mutex<Cell<u64>> = cortex_m::interrupt::Mutex::new(Cell::new(0));

pub struct SysTickClock;
pub static CLOCK: SysTickClock = SysTickClock;

pub fn init(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    cortex_m::interrupt::free(|cs| {
        let ticks = TICKS.borrow(cs);
        ticks.set(ticks.get() + 1);
    });
}

/// Ticks and the count down within the current tick, read consistently.
fn now_parts() -> (u64, u32) {
    cortex_m::interrupt::free(|cs| {
        let ticks = TICKS.borrow(cs).get();
        let current = SYST::get_current();
        // The counter may have wrapped after we read TICKS, with its interrupt still pending
        // (we masked it): then this reading belongs to the next tick.
        if SCB::is_pendst_pending() {
            (ticks + 1, SYST::get_current())
        } else {
            (ticks, current)
        }
    })
}

impl Clock for SysTickClock {
    fn now_us(&self) -> u64 {
        let (ticks, current) = now_parts();
        let within = u64::from(RELOAD - current.min(RELOAD)) * 1_000_000 / u64::from(CORE_HZ);
        ticks * (1_000_000 / u64::from(TICK_HZ)) + within
    }

    fn cycles(&self) -> u64 {
        let (ticks, current) = now_parts();
        ticks * u64::from(RELOAD + 1) + u64::from(RELOAD - current.min(RELOAD))
    }

    fn tick_hz(&self) -> u32 {
        TICK_HZ
    }
}
