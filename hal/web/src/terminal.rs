//! The console: xterm.js in the page. Output is posted to the page as it is written; input
//! arrives as messages the worker pushes in through the boot crate's `zb_input` export, into
//! the same input ring a UART's interrupt handler fills on the other platforms.
//!
//! A page renders what it is sent at its own pace, and a post never waits, so the terminal is
//! [`SerialConsole::paced`]: what the page has not acknowledged as shown is limited (the
//! worker counts it, `console_room`), and the console service holds output back while the page
//! catches up — as a UART's pace holds it on a board.

use zb_hal::SerialConsole;

use crate::glue;

/// Bytes of typed input held until the kernel reads them; more waits in the worker.
const INPUT_BYTES: usize = 4096;

pub static TERMINAL: SerialConsole<INPUT_BYTES> =
    SerialConsole::paced(glue::console_write, glue::console_write, glue::console_room);

/// Input from the page (the worker's `zb_input`): takes what fits and returns how much; the
/// worker keeps the rest until the kernel has read some (a UART would drop it; a page can
/// wait).
pub fn received(bytes: &[u8]) -> usize {
    TERMINAL.take(bytes)
}

/// `core::fmt::Write` to the terminal, for the panic path.
pub struct PanicWriter;

impl core::fmt::Write for PanicWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        glue::console_write(s.as_bytes());
        Ok(())
    }
}
