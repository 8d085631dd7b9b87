//! The kernel's panic report. Each boot crate's `#[panic_handler]` calls [`report`].
//!
//! The report must get out even when the panic happened while the console lock was held or
//! the heap is corrupt, so it formats without allocating and writes through
//! [`zb_hal::Console::write_panic`]. Then the machine stops with a failure status (QEMU exits
//! non-zero, so a test sees a failure, never a hang).

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::PLATFORM;
use crate::banner::ConsoleWriter;

/// Prints the panic message and location, then stops the machine with failure.
///
/// Before the kernel has a platform (a panic inside early platform bring-up), the boot crate
/// must report by its own means; this function then returns so that it can.
pub fn report(info: &PanicInfo<'_>) {
    let Some(&platform) = PLATFORM.get() else {
        return;
    };
    platform.cpu().disable_interrupts();
    let mut w = ConsoleWriter::for_panic(platform);
    let _ = write!(w, "\n!!! KERNEL PANIC: {}\n", info.message());
    if let Some(loc) = info.location() {
        let _ = writeln!(w, "    at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let _ = writeln!(
        w,
        "    uptime {} us; stopping the machine",
        platform.clock().now_us()
    );
    platform.power().shutdown(false)
}
