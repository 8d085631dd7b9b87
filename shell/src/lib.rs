//! The ZeroBus OS shell.
//!
//! A console client ([`zb_abi::ConsoleClient`]): it receives raw terminal bytes, edits lines
//! with [`editor::LineEditor`], splits them into words ([`args::split`]) and runs commands from
//! [`commands::COMMANDS`]. It talks to the system only through [`zb_abi::Host`].
//!
//! Invariants: no input can make the shell panic or stop answering; every submitted line ends
//! with a fresh prompt (`zb:<cwd>> `), unless the command stopped the machine.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod commands;
pub mod editor;
pub mod history;

use alloc::string::String;
use core::fmt::Write;

use zb_abi::{ConsoleClient, Host};

use commands::Ctx;
use editor::{Event, LineEditor};

/// VT100: erase the screen and home the cursor.
pub const CLEAR_SCREEN: &str = "\x1b[2J\x1b[H";

#[derive(Default)]
pub struct Shell {
    editor: LineEditor,
}

impl Shell {
    pub fn new() -> Self {
        Self::default()
    }

    fn prompt(&self, out: &mut String) {
        out.push_str("zb:/> ");
    }

    /// Runs one submitted line.
    pub fn execute(&mut self, line: &str, host: &mut dyn Host, out: &mut String) {
        let words = match args::split(line) {
            Ok(words) => words,
            Err(e) => {
                let _ = writeln!(out, "syntax error: {e}");
                return;
            }
        };
        let Some((name, rest)) = words.split_first() else {
            return;
        };
        let Some(cmd) = commands::find(name) else {
            let _ = writeln!(out, "unknown command: {} (try help)", Printable(name));
            return;
        };
        let mut ctx = Ctx { host, out };
        if let Err(msg) = (cmd.run)(&mut ctx, rest) {
            let _ = writeln!(out, "{}: {msg}", cmd.name);
        }
    }
}

impl ConsoleClient for Shell {
    fn attach(&mut self, host: &mut dyn Host) {
        let mut out = String::new();
        self.prompt(&mut out);
        host.console_write(out.as_bytes());
    }

    fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        let mut out = String::new();
        for &b in bytes {
            match self.editor.feed(b, &mut out) {
                None | Some(Event::EndOfInput) => continue,
                Some(Event::Line(line)) => {
                    // Echo reaches the terminal before the command's output.
                    host.console_write(out.as_bytes());
                    out.clear();
                    self.execute(&line, host, &mut out);
                }
                Some(Event::Cancelled | Event::Overflowed) => {}
                Some(Event::ClearScreen) => {
                    out.push_str(CLEAR_SCREEN);
                    self.prompt(&mut out);
                    self.editor.render(&mut out);
                    continue;
                }
            }
            self.prompt(&mut out);
        }
        if !out.is_empty() {
            host.console_write(out.as_bytes());
        }
    }
}

/// Displays user-supplied text with control characters escaped and long text cut short, so
/// that an error message can never disturb the terminal.
struct Printable<'a>(&'a str);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const LIMIT: usize = 64;
        for (i, c) in self.0.chars().enumerate() {
            if i == LIMIT {
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
}

#[cfg(test)]
mod tests;
