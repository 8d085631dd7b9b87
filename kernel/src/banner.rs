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

/// Formats into the console without allocating, turning `\n` into `\r\n`. The kernel's own
/// output (banner, panic report) does not go through the console service, so it applies the
/// line discipline itself.
pub struct ConsoleWriter<'a> {
    platform: &'a dyn Platform,
    /// Use the lock-free panic path of the console.
    panic: bool,
}

impl<'a> ConsoleWriter<'a> {
    pub fn new(platform: &'a dyn Platform) -> Self {
        ConsoleWriter {
            platform,
            panic: false,
        }
    }

    pub fn for_panic(platform: &'a dyn Platform) -> Self {
        ConsoleWriter {
            platform,
            panic: true,
        }
    }

    fn put(&self, bytes: &[u8]) {
        if self.panic {
            self.platform.console().write_panic(bytes)
        } else {
            self.platform.console().write(bytes)
        }
    }
}

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for (i, chunk) in s.split('\n').enumerate() {
            if i > 0 {
                self.put(b"\r\n");
            }
            self.put(chunk.as_bytes());
        }
        Ok(())
    }
}

pub fn print(platform: &dyn Platform) {
    let mem = platform.memory();
    let mut w = ConsoleWriter::new(platform);
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
        ConsoleWriter::new(platform),
        "boot: kernel entry to prompt {}",
        Millis(boot_us)
    );
}
