//! The host interface for native services.
//!
//! Wasm runs reach the kernel through the HOST import module; services compiled into the image
//! (console, shell) reach it through [`Host`], the same calls expressed as a Rust trait. The
//! kernel implements it; services never see kernel types.

use crate::{Error, MemInfo, Pid, RunInfo, SysInfo};

/// What a power request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Stop the machine (QEMU exits with success).
    Shutdown,
    /// Reset the machine; it boots again.
    Reboot,
    /// Test builds only: make the kernel panic on purpose, to prove the panic path.
    TestPanic,
}

/// System calls available to native services.
pub trait Host {
    /// Writes bytes to the terminal, unmodified.
    fn console_write(&mut self, bytes: &[u8]);
    /// Microseconds since kernel entry (monotonic).
    fn clock_us(&self) -> u64;
    /// The CPU's cycle counter, or the finest monotonic counter the platform has, for
    /// measuring short intervals (`time`, benchmarks). Only differences between two readings
    /// mean something: the starting point is arbitrary and the rate is platform-specific (on
    /// x86_64 it is the TSC, which ticks at a constant rate whatever the core's clock; on
    /// stm32f4 it is derived from the microsecond clock, at the core clock's rate).
    fn cycles(&self) -> u64;
    /// Static facts about the system.
    fn sysinfo(&self) -> SysInfo;
    /// Current memory statistics.
    fn meminfo(&self) -> MemInfo;
    /// Performs a power action. Returns only if it was refused, with the reason.
    fn power(&mut self, action: PowerAction) -> Error;
    /// Starts `/bin/<name>` with `args` as a child of the calling service. A module that does
    /// not load still gets a pid (it is DONE at once with `invalid` or `rejected`, reported
    /// through [`NativeService::run_exited`]); a name with no program is `NotFound`.
    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error>;
    /// Ends a run with `rejected: killed`. `NotFound` if there is no such live run;
    /// `PermissionDenied` for a service.
    fn kill(&mut self, pid: Pid) -> Result<(), Error>;
    /// Visits every run and service, in pid order (finished runs are kept for a while).
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>));
}

/// A native service the kernel schedules: it is started once and then handed console input.
pub trait NativeService {
    /// A short name for logs and `ps`.
    fn name(&self) -> &'static str;
    /// Called once, when the kernel starts the service.
    fn start(&mut self, host: &mut dyn Host);
    /// Bytes that arrived on the console line (only for the service owning the console).
    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host);
    /// Bytes a run wrote to its stdout (`stream` 1) or stderr (2); for the console owner.
    fn run_output(&mut self, pid: Pid, stream: i32, bytes: &[u8], host: &mut dyn Host) {
        let _ = (pid, stream, bytes, host);
    }
    /// A run ended (every run's end is reported, once).
    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        let _ = (run, host);
    }
}

/// A program attached to the console as its foreground client (the shell).
///
/// Output written through the `host` given to these methods goes through the console's line
/// discipline: `\n` becomes `\r\n` on the wire.
pub trait ConsoleClient {
    /// The client became the foreground client (print a prompt).
    fn attach(&mut self, host: &mut dyn Host);
    /// Input bytes from the terminal, raw.
    fn input(&mut self, bytes: &[u8], host: &mut dyn Host);
    /// A run ended (the client may be waiting for it).
    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        let _ = (run, host);
    }
    /// Output from a run is about to be written while the client may be showing a partly typed
    /// line: the client erases what it shows (and returns true if it did).
    fn hide_line(&mut self, host: &mut dyn Host) -> bool {
        let _ = host;
        false
    }
    /// Output from a run was written after [`ConsoleClient::hide_line`]: show the line again.
    fn show_line(&mut self, host: &mut dyn Host) {
        let _ = host;
    }
}
