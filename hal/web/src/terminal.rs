//! The console: xterm.js in the page. Output is posted to the page as it is written; input
//! arrives as messages the worker pushes in through the boot crate's `zb_input` export, into
//! the same [`zb_hal::InputRing`] a UART's interrupt handler fills on the other platforms.

use zb_hal::SerialConsole;

use crate::glue;

/// Bytes of typed input held until the kernel reads them (a paste larger than this is cut,
/// and the cut counted, as a UART's overrun would be).
const INPUT_BYTES: usize = 4096;

pub static TERMINAL: SerialConsole<INPUT_BYTES> =
    SerialConsole::new(glue::console_write, glue::console_write);

/// Input from the page (the worker's `zb_input`).
pub fn received(bytes: &[u8]) {
    for &b in bytes {
        TERMINAL.received(b);
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
