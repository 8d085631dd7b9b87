//! The boot banner: who we are, where we run, how much memory we have, how long boot took.

use core::fmt::Write;

use zb_abi::fmt::{Bytes, Millis};
use zb_abi::{OS_NAME, OS_VERSION};
use zb_hal::{BlockInfo, Platform};

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
    let _ = writeln!(w, "{}", Disk(platform.block().map(|b| b.info())));
}

/// The banner's disk line: `disk: virtio-blk, 16.0 MiB` (`, read-only` if so), or
/// `disk: none`.
struct Disk(Option<BlockInfo>);

impl core::fmt::Display for Disk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(info) = self.0 else {
            return f.write_str("disk: none");
        };
        let bytes = info.blocks.saturating_mul(u64::from(info.block_size));
        write!(f, "disk: {}, {}", info.driver, Bytes(bytes))?;
        if !info.writable {
            f.write_str(", read-only")?;
        }
        Ok(())
    }
}

pub fn print_boot_time(platform: &dyn Platform, boot_us: u64) {
    let _ = writeln!(
        ConsoleWriter::new(platform),
        "boot: kernel entry to prompt {}",
        Millis(boot_us)
    );
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    #[test]
    fn the_disk_line_names_the_driver_and_size() {
        assert_eq!(Disk(None).to_string(), "disk: none");
        let mut info = BlockInfo {
            block_size: 512,
            blocks: 32768,
            driver: "virtio-blk",
            writable: true,
        };
        assert_eq!(Disk(Some(info)).to_string(), "disk: virtio-blk, 16.0 MiB");
        info.writable = false;
        info.blocks = 32;
        info.driver = "ram-flash";
        assert_eq!(
            Disk(Some(info)).to_string(),
            "disk: ram-flash, 16.0 KiB, read-only"
        );
    }
}
