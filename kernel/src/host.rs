//! [`KernelHost`]: the kernel's implementation of the native-service system calls.

use zb_abi::{
    Error, FrameInfo, HeapInfo, Host, MemInfo, OS_VERSION, Pid, PowerAction, RunInfo, SysInfo,
};
use zb_hal::Platform;

use alloc::vec::Vec;

use crate::banner::PROFILE;
use crate::kernel::Kernel;

/// The host as native service `caller` sees it while the kernel serves it.
pub struct KernelHost<'k> {
    platform: &'static dyn Platform,
    boot_us: u64,
    kernel: &'k mut Kernel,
    caller: Pid,
}

impl<'k> KernelHost<'k> {
    pub fn new(
        platform: &'static dyn Platform,
        boot_us: u64,
        kernel: &'k mut Kernel,
        caller: Pid,
    ) -> Self {
        KernelHost {
            platform,
            boot_us,
            kernel,
            caller,
        }
    }
}

impl Host for KernelHost<'_> {
    fn console_write(&mut self, bytes: &[u8]) {
        self.platform.console().write(bytes);
    }

    fn clock_us(&self) -> u64 {
        self.platform.clock().now_us()
    }

    fn cycles(&self) -> u64 {
        self.platform.clock().cycles()
    }

    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: OS_VERSION,
            platform: self.platform.name(),
            machine: self.platform.machine(),
            profile: PROFILE,
            boot_us: self.boot_us,
        }
    }

    fn meminfo(&self) -> MemInfo {
        let m = self.platform.memory();
        MemInfo {
            ram_total: m.ram_total,
            heap: HeapInfo {
                used: m.heap.used,
                free: m.heap.free,
                total: m.heap.total,
            },
            frames: m.frames.map(|f| FrameInfo {
                used: f.used,
                total: f.total,
                frame_size: f.frame_size,
            }),
        }
    }

    fn power(&mut self, action: PowerAction) -> Error {
        match action {
            PowerAction::Shutdown => self.platform.power().shutdown(true),
            PowerAction::Reboot => self.platform.power().reboot(),
            PowerAction::TestPanic if cfg!(feature = "test-hooks") => {
                panic!("deliberate kernel panic requested by the test hook")
            }
            PowerAction::TestPanic => Error::Unsupported,
        }
    }

    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error> {
        let mut packed = Vec::new();
        for arg in args {
            if arg.as_bytes().contains(&0) {
                return Err(Error::InvalidArgument);
            }
            packed.extend_from_slice(arg.as_bytes());
            packed.push(0);
        }
        if packed.len() > zb_abi::syscall::MAX_ARGS {
            return Err(Error::TooLarge);
        }
        self.kernel
            .spawn(self.caller, name, packed, Vec::new())
            .map_err(|(e, _)| e)
    }

    fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        self.kernel.kill(pid)
    }

    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        for run in self.kernel.runs().iter() {
            visit(&run.info());
        }
    }
}
