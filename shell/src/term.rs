//! Terminal output: the VT100 sequences the shell writes, and [`Printable`]/[`PrintableText`],
//! which display untrusted text with control characters escaped so that it can never disturb
//! the terminal.
//!
//! A leaf module (it imports nothing from the crate), so that every other module can use it.

use core::fmt::Write;

/// VT100: erase the screen and home the cursor.
pub const CLEAR_SCREEN: &str = "\x1b[2J\x1b[H";
/// VT100: back to the start of the line and erase it (hides the prompt and the typed line).
pub const ERASE_LINE: &str = "\r\x1b[K";

/// Writes `text` with control characters escaped and at most `limit` chars (then `…`).
fn write_escaped(f: &mut core::fmt::Formatter<'_>, text: &str, limit: usize) -> core::fmt::Result {
    for (i, c) in text.chars().enumerate() {
        if i == limit {
            return f.write_str("…");
        }
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Displays user-supplied text (a word, a name) with control characters escaped and long text
/// cut short at 64 chars, so that an error message can never disturb the terminal.
pub(crate) struct Printable<'a>(pub &'a str);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0, 64)
    }
}

/// Like [`Printable`], for longer text from the system (a trap message): cut at 256 chars.
pub(crate) struct PrintableText<'a>(pub &'a str);

impl core::fmt::Display for PrintableText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0, 256)
    }
}
