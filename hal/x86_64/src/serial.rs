//! The console: COM1, a 16550 UART at I/O port 0x3F8, 115200 8N1.
//!
//! Output is polled (the UART accepts bytes as fast as QEMU or a 115200-baud line takes them).
//! Input is interrupt-driven: the IRQ 4 handler drains the receive FIFO into an [`InputRing`],
//! so typed bytes are never lost while the kernel is busy (up to the ring's 4 KiB; beyond that
//! they are dropped and counted, never wedging anything).
//!
//! Invariant: the UART mutex is only taken with interrupts disabled, so the IRQ handler can
//! never spin on a lock held by the code it interrupted.

use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{Config, Uart16550};
use zb_hal::SerialConsole;

const COM1_PORT: u16 = 0x3F8;

static UART: spin::Once<spin::Mutex<Uart16550<PioBackend>>> = spin::Once::new();
/// The console the kernel sees: 4 KiB of input buffering.
pub static COM1: SerialConsole<4096> = SerialConsole::new(send, send_panic);

pub fn init() {
    UART.call_once(|| {
        // SAFETY: COM1 is the standard PC serial port; this module is its only user.
        let mut uart = match unsafe { Uart16550::new_port(COM1_PORT) } {
            Ok(uart) => uart,
            Err(_) => unreachable!("0x3F8 + 8 registers does not overflow the port space"),
        };
        let config = Config {
            interrupts: IER::DATA_READY,
            baud_rate: uart_16550::BaudRate::Baud115200,
            ..Config::DEFAULT
        };
        // A PC without COM1 still boots; it just has no console.
        let _ = uart.init(config);
        spin::Mutex::new(uart)
    });
}

fn with_uart<R>(f: impl FnOnce(&mut Uart16550<PioBackend>) -> R) -> Option<R> {
    let uart = UART.get()?;
    Some(x86_64::instructions::interrupts::without_interrupts(|| {
        f(&mut uart.lock())
    }))
}

/// IRQ 4: move every received byte into the input ring.
pub(crate) fn on_interrupt() {
    if let Some(uart) = UART.get() {
        // Interrupts are disabled inside an interrupt gate, and the main context never holds
        // this lock with interrupts enabled, so the lock is free here.
        let mut uart = uart.lock();
        while let Ok(byte) = uart.try_receive_byte() {
            COM1.received(byte);
        }
    }
}

fn send(bytes: &[u8]) {
    with_uart(|u| u.send_bytes_exact(bytes));
}

fn send_panic(bytes: &[u8]) {
    // SAFETY: panic path only: interrupts are off and nothing else will run after the report,
    // so a second handle to the port cannot interleave with the first.
    if let Ok(mut raw) = unsafe { Uart16550::new_port(COM1_PORT) } {
        raw.send_bytes_exact(bytes);
    }
}

/// `fmt::Write` straight to the port, for reports when the kernel is not up yet.
pub struct PanicWriter;

impl core::fmt::Write for PanicWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        send_panic(s.as_bytes());
        Ok(())
    }
}
