//! System information records: what `version`, `uptime` and `mem` show.

/// Static facts about the running system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysInfo {
    /// Operating system version ([`crate::OS_VERSION`] of the kernel that booted).
    pub version: &'static str,
    /// Platform name: `x86_64`, `stm32f4` or `web`.
    pub platform: &'static str,
    /// A one-line description of the machine (e.g. `PC (BIOS/UEFI)`, `STM32F405 @ 168 MHz`).
    pub machine: &'static str,
    /// Build profile of the kernel: `debug` or `release`.
    pub profile: &'static str,
    /// Microseconds from kernel entry until the console service started (the first prompt).
    pub boot_us: u64,
}

/// Heap statistics in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapInfo {
    pub used: usize,
    pub free: usize,
    pub total: usize,
}

/// Physical frame statistics, on platforms with paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameInfo {
    /// Frames handed out (page tables, the heap, ...).
    pub used: u64,
    /// Usable frames in the whole machine.
    pub total: u64,
    /// Size of one frame in bytes.
    pub frame_size: u64,
}

impl FrameInfo {
    pub fn free(&self) -> u64 {
        self.total.saturating_sub(self.used)
    }
}

/// Memory statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// Usable RAM the platform reported at boot, in bytes.
    pub ram_total: u64,
    pub heap: HeapInfo,
    /// `None` where the platform has no paging (Cortex-M, the browser).
    pub frames: Option<FrameInfo>,
}
