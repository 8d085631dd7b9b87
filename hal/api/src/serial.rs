//! [`SerialConsole`]: a [`Console`] for a UART with polled output and interrupt-driven input.
//!
//! The platform supplies two functions — send bytes through the normal (possibly locked) path,
//! and send bytes on the panic path — and calls [`SerialConsole::received`] from its receive
//! interrupt. Everything else (buffering, reading, drop accounting) is the same on every board.

use crate::{Console, InputRing};

pub struct SerialConsole<const N: usize> {
    input: InputRing<N>,
    send: fn(&[u8]),
    send_panic: fn(&[u8]),
}

impl<const N: usize> SerialConsole<N> {
    pub const fn new(send: fn(&[u8]), send_panic: fn(&[u8])) -> Self {
        SerialConsole {
            input: InputRing::new(),
            send,
            send_panic,
        }
    }

    /// Called by the receive interrupt handler (the ring's only producer) for each byte.
    pub fn received(&self, byte: u8) {
        self.input.push(byte);
    }
}

impl<const N: usize> Console for SerialConsole<N> {
    fn write(&self, bytes: &[u8]) {
        (self.send)(bytes);
    }

    fn read(&self, buf: &mut [u8]) -> usize {
        self.input.pop_into(buf)
    }

    fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    fn dropped(&self) -> u64 {
        self.input.dropped()
    }

    fn write_panic(&self, bytes: &[u8]) {
        (self.send_panic)(bytes);
    }
}
