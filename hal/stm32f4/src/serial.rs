//! The UARTs: the console on USART1 (PA9 TX / PA10 RX), and the federation link's line on
//! USART2 (PA2 TX / PA3 RX: a USB-serial adapter to a PC running nats-server on a board,
//! QEMU's second `-serial` under QEMU). Both AF7, 115200 8N1.
//!
//! Output is polled on TXE. Input is interrupt-driven: each handler moves received bytes into
//! its port's ring (reading DR also clears an overrun), so nothing is lost while the kernel
//! is busy; a ring that is full drops what comes after (a NATS link sees a broken frame and
//! connects again).

use stm32f4::stm32f405::{self, Interrupt, NVIC, USART1, USART2, interrupt};
use zb_hal::SerialConsole;

use crate::clock::CORE_HZ;

const BAUD: u32 = 115_200;
/// The console the kernel sees: 1 KiB of input buffering (RAM is scarce). TX needs no lock:
/// polling TXE is safe from any context, so the panic path is the normal path.
pub static USART1_CONSOLE: SerialConsole<1024> = SerialConsole::new(send, send);

/// USART2, the federation link's line. Its input ring is held, not overrun: when it is full the
/// handler leaves the byte in the UART and masks its interrupt in the NVIC until the link reads
/// ([`read_link`]) — QEMU then holds the rest in its socket; a board's adapter, without
/// RTS/CTS, overruns (the link sees a broken frame and starts over). Masked in the NVIC, not
/// only by RXNEIE: QEMU's USART keeps its interrupt line raised while a byte waits in DR,
/// and its NVIC takes the line as level-sensitive, so the handler would run again and again.
pub static USART2_LINK: SerialConsole<128> = SerialConsole::new(send2, send2);

/// Reads what USART2 received, and lets its interrupt take more.
pub fn read_link(buf: &mut [u8]) -> usize {
    let n = zb_hal::Console::read(&USART2_LINK, buf);
    // SAFETY: the USART2 handler is ready (`init_link`); with room in the ring it takes what
    // waits in DR.
    unsafe { NVIC::unmask(Interrupt::USART2) };
    n
}

fn usart2() -> &'static stm32f405::usart1::RegisterBlock {
    // SAFETY: as for `usart`: a fixed register block; the link's writes (main context) and
    // the USART2 handler's reads touch disjoint bits.
    unsafe { &*USART2::ptr() }
}

fn usart() -> &'static stm32f405::usart1::RegisterBlock {
    // SAFETY: the register block is at a fixed address and lives forever; concurrent access is
    // confined to the TX path (main context) and the RX path (interrupt), which touch disjoint
    // bits (TXE/DR write vs RXNE/DR read).
    unsafe { &*USART1::ptr() }
}

/// Sets `u` to [`BAUD`] from `clock_hz` (USARTDIV = f / (16 × baud), as mantissa and
/// 1/16ths) and enables it: transmitter, receiver, and the receive interrupt.
fn baud_divisor(u: &stm32f405::usart1::RegisterBlock, clock_hz: u32) {
    let div16 = (clock_hz + BAUD / 2) / BAUD;
    u.brr().write(|w| {
        w.div_mantissa()
            .set((div16 >> 4) as u16)
            .div_fraction()
            .set((div16 & 0xF) as u8)
    });
    u.cr1().write(|w| {
        w.ue()
            .set_bit()
            .te()
            .set_bit()
            .re()
            .set_bit()
            .rxneie()
            .set_bit()
    });
}

/// Brings USART2 up for the federation link (see the module doc).
pub fn init_link(dp: &stm32f405::Peripherals) {
    dp.RCC.ahb1enr().modify(|_, w| w.gpioaen().set_bit());
    dp.RCC.apb1enr().modify(|_, w| w.usart2en().set_bit());
    dp.GPIOA
        .moder()
        .modify(|_, w| w.moder2().alternate().moder3().alternate());
    dp.GPIOA.afrl().modify(|_, w| w.afrl2().af7().afrl3().af7());
    // APB1 runs at the core clock too (HSI, no prescaler after reset).
    baud_divisor(usart2(), CORE_HZ);
    // SAFETY: the USART2 handler below is ready (it only touches USART2_LINK and USART2's RX).
    unsafe { NVIC::unmask(Interrupt::USART2) };
}

#[interrupt]
fn USART2() {
    let u = usart2();
    while u.sr().read().rxne().bit_is_set() || u.sr().read().ore().bit_is_set() {
        if USART2_LINK.is_full() {
            // Held: the byte stays in DR until `read_link` makes room.
            NVIC::mask(Interrupt::USART2);
            return;
        }
        let byte = u.dr().read().dr().bits() as u8;
        USART2_LINK.received(byte);
    }
}

fn send2(bytes: &[u8]) {
    transmit(usart2(), bytes);
}

pub fn init(dp: &stm32f405::Peripherals) {
    dp.RCC.ahb1enr().modify(|_, w| w.gpioaen().set_bit());
    dp.RCC.apb2enr().modify(|_, w| w.usart1en().set_bit());
    dp.GPIOA
        .moder()
        .modify(|_, w| w.moder9().alternate().moder10().alternate());
    dp.GPIOA
        .afrh()
        .modify(|_, w| w.afrh9().af7().afrh10().af7());
    // APB2 runs at the core clock (no prescaler after reset).
    baud_divisor(usart(), CORE_HZ);
    // SAFETY: the USART1 handler below is ready (it only touches INPUT and USART1's RX path).
    unsafe { NVIC::unmask(Interrupt::USART1) };
}

#[interrupt]
fn USART1() {
    let u = usart();
    // RXNE, or an overrun (ORE): both are cleared by reading SR then DR.
    while u.sr().read().rxne().bit_is_set() || u.sr().read().ore().bit_is_set() {
        let byte = u.dr().read().dr().bits() as u8;
        USART1_CONSOLE.received(byte);
    }
}

fn send(bytes: &[u8]) {
    transmit(usart(), bytes);
}

/// Writes `bytes` to `u`, polling TXE before each.
fn transmit(u: &stm32f405::usart1::RegisterBlock, bytes: &[u8]) {
    for &b in bytes {
        while u.sr().read().txe().bit_is_clear() {}
        u.dr().write(|w| w.dr().set(u16::from(b)));
    }
}

pub struct PanicWriter;

impl core::fmt::Write for PanicWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        send(s.as_bytes());
        Ok(())
    }
}
