//! The boot banner: who we are, where we run, how much memory we have, how long boot took.

use core::fmt::Write;

use zb_abi::fmt::{Bytes, Millis};
use zb_abi::{OS_NAME, OS_VERSION};
use zb_hal::Platform;

/// `debug` or `release`, as the kernel crate was compiled.
pub const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// Formats into the console without allocating (the banner is printed before anything else).
pub struct ConsoleWriter<'a>(pub &'a dyn Platform);

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for (i, chunk) in s.split('\n').enumerate() {
            if i > 0 {
                self.0.console().write(b"\r\n");
            }
            self.0.console().write(chunk.as_bytes());
        }
        Ok(())
    }
}

pub fn print(platform: &dyn Platform) {
    let mem = platform.memory();
    let mut w = ConsoleWriter(platform);
    let _ = writeln!(
        w,
        "\n{OS_NAME} {OS_VERSION} ({}, {PROFILE} build)",
        platform.name()
    );
    let _ = writeln!(w, "machine: {}", platform.machine());
    let _ = writeln!(
        w,
        "memory: {} usable RAM, {} kernel heap",
        Bytes(mem.ram_total),
        Bytes(mem.heap.total as u64)
    );
}

pub fn print_boot_time(platform: &dyn Platform, boot_us: u64) {
    let _ = writeln!(
        ConsoleWriter(platform),
        "boot: kernel entry to prompt {}",
        Millis(boot_us)
    );
}
