//! [`SerialConsole`]: a [`Console`] for a UART with polled output and interrupt-driven input.
//!
//! The platform supplies two functions — send bytes through the normal (possibly locked) path,
//! and send bytes on the panic path — and calls [`SerialConsole::received`] from its receive
//! interrupt. Everything else (buffering, reading, drop accounting) is the same on every board.
//! A line whose writes never wait (a browser page) is [`SerialConsole::paced`] by what it says
//! it has room for, and takes input with [`SerialConsole::take`], which keeps what does not fit
//! with the sender instead of dropping it.

use crate::{Console, InputRing};

pub struct SerialConsole<const N: usize> {
    input: InputRing<N>,
    send: fn(&[u8]),
    send_panic: fn(&[u8]),
    /// [`Console::room`], for a line whose writes never wait.
    room: Option<fn() -> usize>,
}

impl<const N: usize> SerialConsole<N> {
    pub const fn new(send: fn(&[u8]), send_panic: fn(&[u8])) -> Self {
        SerialConsole {
            input: InputRing::new(),
            send,
            send_panic,
            room: None,
        }
    }

    /// A console whose `send` never waits: `room` says how much it takes now.
    pub const fn paced(send: fn(&[u8]), send_panic: fn(&[u8]), room: fn() -> usize) -> Self {
        SerialConsole {
            input: InputRing::new(),
            send,
            send_panic,
            room: Some(room),
        }
    }

    /// Called by the receive interrupt handler (the ring's only producer) for each byte.
    pub fn received(&self, byte: u8) {
        self.input.push(byte);
    }

    /// Whether the input ring is full (a receive handler that can hold the line — leave the
    /// byte in the UART, stop the interrupt — does so instead of dropping).
    pub fn is_full(&self) -> bool {
        self.input.len() >= N
    }

    /// Takes as much of `bytes` as the input ring has room for (the ring's only producer);
    /// returns how many.
    pub fn take(&self, bytes: &[u8]) -> usize {
        let take = bytes.len().min(N.saturating_sub(self.input.len()));
        for &b in &bytes[..take] {
            self.input.push(b);
        }
        take
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

    fn room(&self) -> usize {
        self.room.map_or(usize::MAX, |room| room())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere(_: &[u8]) {}
    fn ten() -> usize {
        10
    }

    #[test]
    fn take_keeps_what_does_not_fit_with_the_sender() {
        let line = SerialConsole::<8>::paced(nowhere, nowhere, ten);
        assert_eq!(line.take(b"hello world"), 8);
        assert_eq!(line.dropped(), 0, "nothing taken was lost");
        assert_eq!(line.take(b"x"), 0);
        let mut buf = [0u8; 3];
        assert_eq!(line.read(&mut buf), 3);
        assert_eq!(line.take(b"rld"), 3);
        let mut rest = [0u8; 16];
        let n = line.read(&mut rest);
        assert_eq!(&rest[..n], b"lo world");
        assert_eq!(line.room(), 10);
        assert_eq!(SerialConsole::<8>::new(nowhere, nowhere).room(), usize::MAX);
    }
}
