//! What every command runs with: the [`Ctx`] a command gets and the [`CmdResult`] it returns.
//!
//! A leaf module of its own so that the command table ([`crate::commands`]) and the file
//! commands ([`crate::files`]) can both use these types without importing each other.

use alloc::string::String;

use zb_abi::Host;

use crate::jobs::Jobs;

/// What a command runs with.
pub struct Ctx<'a> {
    pub host: &'a mut dyn Host,
    pub out: &'a mut String,
    /// The shell's jobs: `run` and `wait` set the foreground job here.
    pub jobs: &'a mut Jobs,
    /// The working directory (absolute, normalised).
    pub cwd: &'a mut String,
}

impl Ctx<'_> {
    /// Sends what has been written so far to the terminal (before a call that may not return).
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            self.host.console_write(self.out.as_bytes());
            self.out.clear();
        }
    }
}

/// A command's outcome: `Err` carries the message the shell prints after the command's name.
pub type CmdResult = Result<(), String>;
