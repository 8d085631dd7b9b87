//! The console: USART1 on PA9 (TX) / PA10 (RX), AF7, 115200 8N1.
//!
//! Output is polled on TXE. Input is interrupt-driven: the USART1 handler moves each received
//! byte into an [`InputRing`] (reading DR also clears an overrun), so typing is never lost
//! while the kernel is busy.

use stm32f4::stm32f405::{self, Interrupt, NVIC, USART1, interrupt};
use zb_hal::SerialConsole;

use crate::clock::CORE_HZ;

const BAUD: u32 = 115_200;
/// The console the kernel sees: 1 KiB of input buffering (RAM is scarce). TX needs no lock:
/// polling TXE is safe from any context, so the panic path is the normal path.
pub static USART1_CONSOLE: SerialConsole<1024> = SerialConsole::new(send, send);

fn usart() -> &'static stm32f405::usart1::RegisterBlock {
    // SAFETY: the register block is at a fixed address and lives forever; concurrent access is
    // confined to the TX path (main context) and the RX path (interrupt), which touch disjoint
    // bits (TXE/DR write vs RXNE/DR read).
    unsafe { &*USART1::ptr() }
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
    // USARTDIV = f / (16 × baud), as mantissa and 1/16ths; APB2 runs at the core clock (no
    // prescaler after reset).
    let div16 = (CORE_HZ + BAUD / 2) / BAUD;
    let u = usart();
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
    let u = usart();
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
