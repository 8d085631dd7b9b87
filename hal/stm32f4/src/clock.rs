//! Time: TIM2, a free-running 32-bit counter at 1 MHz, is the monotonic clock; SysTick,
//! clocked by the core, interrupts at 1 kHz to wake an idle CPU.
//!
//! Why two timers: counting SysTick interrupts loses time whenever an interrupt is late (QEMU
//! drops periodic ticks when the host is busy), while TIM2's counter is read, not counted, so
//! it stays exact. It wraps every 71.6 minutes; [`now_us`] extends it to 64 bits, and the tick
//! handler reads it every millisecond so no wrap is ever missed. (There is no cycle counter
//! under QEMU: it does not model the DWT.)

use core::cell::Cell;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
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
/// TIM2's input clock: the APB1 timer clock (the core clock after reset) on a board; QEMU's
/// STM32 timer model counts at a fixed 1 GHz instead.
const TIMER_CLOCK_HZ: u32 = if cfg!(feature = "qemu") {
    1_000_000_000
} else {
    CORE_HZ
};

/// The last TIM2 reading and the high bits above it. Behind an interrupt-free cell: Cortex-M
/// has no 64-bit atomics.
static EXTENDED: cortex_m::interrupt::Mutex<Cell<(u32, u64)>> =
    cortex_m::interrupt::Mutex::new(Cell::new((0, 0)));

pub struct BoardClock;
pub static CLOCK: BoardClock = BoardClock;

fn tim2() -> &'static stm32f4::stm32f405::tim2::RegisterBlock {
    // SAFETY: fixed, always-valid register block; after `init` it is only read (CNT).
    unsafe { &*stm32f4::stm32f405::TIM2::ptr() }
}

pub fn init(syst: &mut SYST, dp: &stm32f4::stm32f405::Peripherals) {
    dp.RCC.apb1enr().modify(|_, w| w.tim2en().set_bit());
    let t = tim2();
    t.psc()
        .write(|w| w.psc().set((TIMER_CLOCK_HZ / 1_000_000 - 1) as u16));
    t.arr().write(|w| w.arr().set(u32::MAX));
    t.egr().write(|w| w.ug().set_bit()); // load the prescaler now; resets CNT to 0
    t.cr1().modify(|_, w| w.cen().set_bit());

    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    // Keeps the 64-bit extension current (and wakes the CPU from WFI).
    now_us();
}

/// Microseconds since `init`.
pub fn now_us() -> u64 {
    cortex_m::interrupt::free(|cs| {
        let cell = EXTENDED.borrow(cs);
        let (last, high) = cell.get();
        let raw = tim2().cnt().read().cnt().bits();
        let high = if raw < last { high + (1 << 32) } else { high };
        cell.set((raw, high));
        high + u64::from(raw)
    })
}

impl Clock for BoardClock {
    fn now_us(&self) -> u64 {
        now_us()
    }

    fn cycles(&self) -> u64 {
        now_us() * u64::from(CORE_HZ / 1_000_000)
    }

    fn tick_hz(&self) -> u32 {
        TICK_HZ
    }
}
