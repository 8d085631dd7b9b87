//! What a board tells the kernel at boot: the boot file archive and the limits that fit the
//! machine. The kernel has no platform `cfg`; everything that differs per board is here.

/// How many finished runs the table keeps for `ps` and `wait` (and replay keeps recordings
/// of).
pub const KEEP_DONE: usize = 16;

/// Limits every run is created with.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Most bytes of linear memory a run may have (loading a module that asks for more, or
    /// growing past it, ends the run with `rejected`).
    pub memory_bytes: usize,
    /// Most bytes of wasmi value stack per run (deep recursion past it traps: `panic`).
    pub stack_bytes: usize,
    /// Most handles in a run's capability table.
    pub handles: usize,
    /// Most bytes of kernel memory a run may be charged at once (`crate::account`): its
    /// output waiting for the console, messages it sent not yet received, requests waiting
    /// for a service. `run --kmem` sets another.
    pub kernel_bytes: usize,
    /// Most bytes of a run's output waiting for the console before its writes wait (WAIT
    /// output) for the console to take some.
    pub output_bytes: usize,
}

/// The kernel's configuration, built by the boot crate.
#[derive(Debug, Clone, Copy)]
pub struct KernelConfig {
    /// The boot archive (`zb_abi::bootfs` format): `/bin/<program>` and friends. May be empty.
    pub boot_files: &'static [u8],
    /// A second archive of the same format, installed after the first (a board's QEMU build
    /// keeps its test programs apart from the firmware proper). Usually empty.
    pub more_boot_files: &'static [u8],
    pub limits: RunLimits,
    /// Most live (not DONE) runs at once.
    pub max_runs: usize,
    /// Fuel per scheduling slice (about one unit per wasm instruction).
    pub fuel_slice: u64,
    /// Messages a channel holds per direction before `send` blocks.
    pub channel_capacity: usize,
    /// Keep a program's compiled code after its last run ends (fast spawns; the heap holds the
    /// code of every program ever run). Without it the code is freed when no run uses it
    /// (what a small heap needs); runs of one program always share its code.
    pub keep_compiled: bool,
    /// Bytes of system log kept for `dmesg` (`proc://log`); older lines are dropped.
    pub log_bytes: usize,
    /// What crates log through the `log` facade (the logger the boot crate installed), moved
    /// into the system log by the main loop; `None` on a board that installs no logger.
    pub log_queue: Option<&'static dyn zb_hal::LogDrain>,
    pub journal: JournalLimits,
    pub replay: ReplayLimits,
}

/// How much recording of runs' inputs (`crate::replay`) the kernel keeps.
#[derive(Debug, Clone, Copy)]
pub struct ReplayLimits {
    /// Most bytes of one run's recording; a run that needs more is not replayable (0: runs
    /// are not recorded).
    pub tape_bytes: usize,
    /// Most bytes of all finished runs' recordings kept (the oldest go first).
    pub kept_bytes: usize,
}

/// Sizes of the event journal (`crate::bus`).
#[derive(Debug, Clone, Copy)]
pub struct JournalLimits {
    /// Most bytes of one encoded event (envelope and payload).
    pub max_record: usize,
    /// How many recent `idempotency_key`s are remembered.
    pub dedupe_window: usize,
    /// Without a journal region: a RAM journal of this many segments of `ram_segment` bytes
    /// (not durable; the boot log says so).
    pub ram_segments: u32,
    pub ram_segment: u32,
    /// What one run may append per [`JournalLimits::quota_window_us`]: events' encoded bytes,
    /// and events (on a PC a quarter of the journal per window; on the STM32F4, whose 32 KiB
    /// journal also keeps room for the views' snapshots, 2 KiB), so one emit loop alone cannot
    /// fill it faster than retention and sealing free it, and others still emit meanwhile.
    pub run_bytes: usize,
    pub run_events: u32,
    pub quota_window_us: u64,
}

impl KernelConfig {
    /// Settings for a machine with plenty of memory (a PC).
    pub const fn large(boot_files: &'static [u8]) -> Self {
        KernelConfig {
            boot_files,
            more_boot_files: &[],
            limits: RunLimits {
                memory_bytes: 4 << 20,
                stack_bytes: 1 << 20,
                handles: 256,
                kernel_bytes: 1 << 20,
                output_bytes: 16 << 10,
            },
            max_runs: 64,
            fuel_slice: 50_000,
            channel_capacity: 16,
            keep_compiled: true,
            log_bytes: 16 << 10,
            log_queue: None,
            journal: JournalLimits {
                max_record: 4 << 10,
                dedupe_window: 1024,
                ram_segments: 4,
                ram_segment: 64 << 10,
                run_bytes: 1 << 20,
                run_events: 2048,
                quota_window_us: 10_000_000,
            },
            replay: ReplayLimits {
                tape_bytes: 64 << 10,
                kept_bytes: 512 << 10,
            },
        }
    }

    /// Settings for a microcontroller with ~100 KiB of heap.
    pub const fn small(boot_files: &'static [u8]) -> Self {
        KernelConfig {
            boot_files,
            more_boot_files: &[],
            limits: RunLimits {
                memory_bytes: 24 << 10,
                stack_bytes: 8 << 10,
                handles: 16,
                kernel_bytes: 16 << 10,
                output_bytes: 1 << 10,
            },
            max_runs: 6,
            fuel_slice: 20_000,
            channel_capacity: 4,
            keep_compiled: false,
            log_bytes: 2 << 10,
            log_queue: None,
            journal: JournalLimits {
                max_record: 1 << 10,
                dedupe_window: 32,
                ram_segments: 2,
                ram_segment: 4 << 10,
                run_bytes: 2 << 10,
                run_events: 64,
                quota_window_us: 10_000_000,
            },
            replay: ReplayLimits {
                tape_bytes: 1 << 10,
                kept_bytes: 2 << 10,
            },
        }
    }
}
