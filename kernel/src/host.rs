//! [`KernelHost`]: the kernel's implementation of the native-service system calls.

use zb_abi::{Error, FrameInfo, HeapInfo, Host, MemInfo, OS_VERSION, PowerAction, SysInfo};
use zb_hal::Platform;

use crate::banner::PROFILE;

pub struct KernelHost {
    platform: &'static dyn Platform,
    boot_us: u64,
}

impl KernelHost {
    pub fn new(platform: &'static dyn Platform, boot_us: u64) -> Self {
        KernelHost { platform, boot_us }
    }
}

impl Host for KernelHost {
    fn console_write(&mut self, bytes: &[u8]) {
        self.platform.console().write(bytes);
    }

    fn clock_us(&self) -> u64 {
        self.platform.clock().now_us()
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
}
