//! The console: xterm.js in the page. Output is posted to the page as it is written; input
//! arrives as messages the worker pushes in through the boot crate's `zb_input` export, into
//! the same [`InputRing`] a UART's interrupt handler fills on the other platforms.
//!
//! A page renders what it is sent at its own pace, and a post never waits, so the terminal
//! reports its [`Console::room`]: what the page has not acknowledged as shown is limited
//! (the worker counts it, `console_room`), and the console service holds output back while
//! the page catches up — as a UART's pace holds it on a board.

use zb_hal::{Console, InputRing};

use crate::glue;

/// Bytes of typed input held until the kernel reads them (a paste larger than this is cut,
/// and the cut counted, as a UART's overrun would be).
const INPUT_BYTES: usize = 4096;

pub struct WebTerminal {
    input: InputRing<INPUT_BYTES>,
}

pub static TERMINAL: WebTerminal = WebTerminal {
    input: InputRing::new(),
};

/// Input from the page (the worker's `zb_input`): takes what fits and returns how much; the
/// worker keeps the rest until the kernel has read some (a UART would have dropped it, but the
/// page can wait).
pub fn received(bytes: &[u8]) -> usize {
    let room = INPUT_BYTES.saturating_sub(TERMINAL.input.len());
    let take = bytes.len().min(room);
    for &b in &bytes[..take] {
        TERMINAL.input.push(b);
    }
    take
}

impl Console for WebTerminal {
    fn write(&self, bytes: &[u8]) {
        glue::console_write(bytes);
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
        glue::console_write(bytes);
    }

    fn room(&self) -> usize {
        glue::console_room()
    }
}

/// `core::fmt::Write` to the terminal, for the panic path.
pub struct PanicWriter;

impl core::fmt::Write for PanicWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        glue::console_write(s.as_bytes());
        Ok(())
    }
}
