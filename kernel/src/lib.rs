//! ZRK, the ZeroBus run kernel: the platform-free core.
//!
//! The kernel is handed a [`Platform`] by a boot crate and the native services to run, and
//! from then on owns the machine: it prints the boot banner, starts the console service, feeds
//! it console input, and idles the CPU when there is nothing to do.
//!
//! Layering: the kernel depends on the HAL *traits* (`zb-hal`) and the userspace ABI
//! (`zb-abi`) only. It contains no platform `cfg` and no `unsafe`; it builds for every target
//! the OS runs on and is unit-tested on the host.
//!
//! Invariants: nothing a service or a user does can make the kernel panic; the only deliberate
//! panic is the `test-hooks` build's [`zb_abi::PowerAction::TestPanic`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod banner;
pub mod cap;
mod host;
pub mod ipc;
pub mod panic;
pub mod run;
pub mod sched;
pub mod task;

use zb_abi::NativeService;
use zb_hal::Platform;

pub use host::KernelHost;

/// Where the kernel keeps the platform, for the panic path.
static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// Runs the kernel on `platform` with `console` as the service owning the console line.
/// Never returns: the machine stops through [`zb_hal::Power`].
pub fn run(platform: &'static dyn Platform, console: &mut dyn NativeService) -> ! {
    PLATFORM.call_once(|| platform);
    banner::print(platform);

    let boot_us = platform.clock().now_us();
    banner::print_boot_time(platform, boot_us);
    let mut host = KernelHost::new(platform, boot_us);
    console.start(&mut host);

    let mut buf = [0u8; 256];
    loop {
        let n = platform.console().read(&mut buf);
        if n > 0 {
            console.console_input(&buf[..n], &mut host);
            continue;
        }
        platform.cpu().idle(&|| platform.console().has_input());
    }
}

#[cfg(test)]
mod tests;
