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
pub mod config;
mod host;
pub mod ipc;
pub mod kernel;
mod link;
pub mod object;
pub mod panic;
pub mod run;
pub mod sched;
mod sys;
pub mod task;

use zb_abi::fmt::Bytes;
use zb_abi::{NativeService, Pid};
use zb_hal::Platform;

pub use config::{KernelConfig, RunLimits};
pub use host::KernelHost;
pub use kernel::{Ended, Event, Kernel};

/// Where the kernel keeps the platform, for the panic path.
static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// Runs the kernel on `platform` with `console` as the service owning the console line.
/// Never returns: the machine stops through [`zb_hal::Power`].
pub fn run(
    platform: &'static dyn Platform,
    config: KernelConfig,
    console: &mut dyn NativeService,
) -> ! {
    PLATFORM.call_once(|| platform);
    banner::print(platform);

    let boot_us = platform.clock().now_us();
    banner::print_boot_time(platform, boot_us);
    let mut kernel = Kernel::new(platform.clock(), config);
    kernel.set_heap_probe(&heap_free);
    install_boot_files(&mut kernel, platform, config.boot_files);
    let mut services = Services {
        platform,
        boot_us,
        console,
        console_pid: 0,
    };
    services.console_pid = kernel.add_service(services.console.name());
    services.serve(&mut kernel, |s, host| s.start(host));

    let mut buf = [0u8; 256];
    loop {
        let n = platform.console().read(&mut buf);
        if n > 0 {
            services.serve(&mut kernel, |s, host| s.console_input(&buf[..n], host));
        }
        let ran = kernel.step();
        let told = services.deliver_events(&mut kernel);
        if n == 0 && !ran && !told && !kernel.has_ready() {
            // Sleepers are woken by the timer interrupt that ends the halt.
            platform.cpu().idle(&|| platform.console().has_input());
        }
    }
}

/// The kernel heap's free bytes (for admission control of modules).
fn heap_free() -> usize {
    PLATFORM.get().map_or(usize::MAX, |p| p.memory().heap.free)
}

/// Makes the programs in the boot archive loadable; a corrupt archive is reported, not fatal.
fn install_boot_files(kernel: &mut Kernel, platform: &'static dyn Platform, files: &'static [u8]) {
    use core::fmt::Write;
    let mut out = banner::ConsoleWriter::new(platform);
    if files.is_empty() {
        let _ = writeln!(out, "boot files: none");
        return;
    }
    match zb_abi::bootfs::BootFs::parse(files) {
        Ok(fs) => {
            for entry in &fs {
                kernel.install(entry.path, entry.data);
            }
            let _ = writeln!(
                out,
                "boot files: {} ({})",
                fs.len(),
                Bytes(files.len() as u64)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "boot files: refused, the archive is corrupt ({e})");
        }
    }
}

/// The native services and how the boot loop talks to them.
struct Services<'s> {
    platform: &'static dyn Platform,
    boot_us: u64,
    console: &'s mut dyn NativeService,
    console_pid: Pid,
}

impl Services<'_> {
    /// Calls into the console service, with it shown as EXEC meanwhile.
    fn serve(
        &mut self,
        kernel: &mut Kernel,
        call: impl FnOnce(&mut dyn NativeService, &mut KernelHost<'_>),
    ) {
        kernel.service_running(self.console_pid, true);
        let mut host = KernelHost::new(self.platform, self.boot_us, kernel, self.console_pid);
        call(&mut *self.console, &mut host);
        kernel.service_running(self.console_pid, false);
    }

    /// Hands queued run events to the console service; true if there were any.
    fn deliver_events(&mut self, kernel: &mut Kernel) -> bool {
        let mut any = false;
        while let Some(event) = kernel.take_event() {
            any = true;
            match event {
                Event::Output { pid, stream, bytes } => {
                    self.serve(kernel, |s, host| s.run_output(pid, stream, &bytes, host));
                }
                Event::Exited(ended) => {
                    self.serve(kernel, |s, host| s.run_exited(&ended.info(), host));
                }
            }
        }
        any
    }
}

#[cfg(test)]
mod tests;
