//! The host interface for native services.
//!
//! Wasm runs reach the kernel through the HOST import module; services compiled into the image
//! (console, shell) reach it through [`Host`], the same calls expressed as a Rust trait. The
//! kernel implements it; services never see kernel types.

use crate::kind::{KindId, KindInfo};
use crate::scheme::{Answer, FsInfo, OpenFlags, Reply, Request, RequestId, Stat, Whence};
use crate::{Error, MemInfo, Pid, RunInfo, SysInfo};

/// What a power request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Stop the machine (QEMU exits with success).
    Shutdown,
    /// Reset the machine; it boots again.
    Reboot,
    /// Test builds only: make the kernel panic on purpose, to prove the panic path.
    TestPanic,
}

/// System calls available to native services.
/// Gets a view's answer to `scan` ([`Host::scan_view`]), or the error and why in words.
pub type ScanReply<'r> = &'r mut dyn FnMut(Result<&[u8], (Error, &str)>);
/// Gets the height a view was sealed at ([`Host::seal_view`]), or the error and why.
pub type SealReply<'r> = &'r mut dyn FnMut(Result<u64, (Error, &str)>);

pub trait Host {
    /// Writes bytes to the terminal, unmodified.
    fn console_write(&mut self, bytes: &[u8]);
    /// Microseconds since kernel entry (monotonic).
    fn clock_us(&self) -> u64;
    /// The CPU's cycle counter, or the finest monotonic counter the platform has, for
    /// measuring short intervals (`time`, benchmarks). Only differences between two readings
    /// mean something: the starting point is arbitrary and the rate is platform-specific (on
    /// x86_64 it is the TSC, which ticks at a constant rate whatever the core's clock; on
    /// stm32f4 it is derived from the microsecond clock, at the core clock's rate).
    fn cycles(&self) -> u64;
    /// Static facts about the system.
    fn sysinfo(&self) -> SysInfo;
    /// Current memory statistics.
    fn meminfo(&self) -> MemInfo;
    /// Performs a power action. Returns only if it was refused, with the reason.
    fn power(&mut self, action: PowerAction) -> Error;
    /// Starts `/bin/<name>` with `args` as a child of the calling service. A module that does
    /// not load still gets a pid (it is DONE at once with `invalid` or `rejected`, reported
    /// through [`NativeService::run_exited`]); a name with no program is `NotFound`.
    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error>;
    /// Ends a run with `rejected: killed`. `NotFound` if there is no such live run;
    /// `PermissionDenied` for a service.
    fn kill(&mut self, pid: Pid) -> Result<(), Error>;
    /// Visits every run and service, in pid order (finished runs are kept for a while).
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>));

    /// Starts `/bin/<name>` like [`Host::spawn`], with `options`.
    fn spawn_with(
        &mut self,
        name: &str,
        args: &[&str],
        options: &SpawnOptions<'_>,
    ) -> Result<Pid, Error> {
        let _ = options;
        self.spawn(name, args)
    }

    /// Replays finished run `pid` from its recorded inputs, as a child of the caller; the
    /// replay's pid. Its output is the verdict (`identical <hash> …` or `diverged at call N:
    /// …`). `Busy`: the run has not finished; `NotFound`: no recording of it is kept;
    /// `TooLarge`: its recording outgrew the kernel's limit.
    fn replay(&mut self, pid: Pid) -> Result<Pid, Error> {
        let _ = pid;
        Err(Error::Unsupported)
    }

    /// Asks view `view` about `key`, as a run's `scan` call does; `reply` gets the answer, or
    /// the error and why in words (e.g. `view ledger.balances has nothing for "bob"`).
    fn scan_view(&mut self, view: &str, key: &str, reply: ScanReply<'_>) {
        let _ = (view, key);
        reply(Err((Error::Unsupported, "")));
    }

    /// Snapshots view `view` at its height, as a run's `seal` call does; `reply` gets the
    /// height, or the error and why in words.
    fn seal_view(&mut self, view: &str, reply: SealReply<'_>) {
        let _ = view;
        reply(Err((Error::Unsupported, "")));
    }

    /// Tells the calling native service of every commit of events matching `pattern` (NATS
    /// wildcards), through [`NativeService::events_committed`] with the number returned here.
    /// init uses it to start runs on events. `InvalidArgument`: not a valid pattern.
    fn watch_events(&mut self, pattern: &str) -> Result<u32, Error> {
        let _ = pattern;
        Err(Error::Unsupported)
    }

    /// The wall clock: seconds since 1970-01-01 00:00 UTC, if the platform has a real-time
    /// clock or it was set ([`Host::set_wall_clock`]).
    fn wall_clock(&self) -> Option<u64> {
        None
    }

    /// Sets the wall clock to `unix_secs` (UTC); cron timers follow it. `InvalidArgument` for
    /// a time before boot or after the year 9999.
    fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        let _ = unix_secs;
        Err(Error::Unsupported)
    }

    /// Writes one line to the system log (the console, prefixed with the caller's name).
    fn log(&mut self, line: &str) {
        self.console_write(line.as_bytes());
        self.console_write(b"\n");
    }

    // --- URLs, as a client: the same calls a run makes (DESIGN.md §4). Paths are absolute
    // URLs or absolute paths (`/etc/motd` means `file:///etc/motd`); handles are the caller's.

    /// Opens `url`; the handle names it in the other calls.
    fn open(&mut self, url: &str, flags: OpenFlags) -> Result<u32, Error> {
        let _ = (url, flags);
        Err(Error::Unsupported)
    }
    /// Reads at the handle's position into `buf`; 0 at the end. On a directory handle: packed
    /// entries (`scheme::dirents`).
    fn read(&mut self, handle: u32, buf: &mut [u8]) -> Result<usize, Error> {
        let _ = (handle, buf);
        Err(Error::Unsupported)
    }
    fn write(&mut self, handle: u32, data: &[u8]) -> Result<usize, Error> {
        let _ = (handle, data);
        Err(Error::Unsupported)
    }
    fn seek(&mut self, handle: u32, offset: i64, whence: Whence) -> Result<u64, Error> {
        let _ = (handle, offset, whence);
        Err(Error::Unsupported)
    }
    fn close(&mut self, handle: u32) -> Result<(), Error> {
        let _ = handle;
        Err(Error::Unsupported)
    }
    fn stat(&mut self, url: &str) -> Result<Stat, Error> {
        let _ = url;
        Err(Error::Unsupported)
    }
    fn unlink(&mut self, url: &str) -> Result<(), Error> {
        let _ = url;
        Err(Error::Unsupported)
    }
    fn mkdir(&mut self, url: &str) -> Result<(), Error> {
        let _ = url;
        Err(Error::Unsupported)
    }
    fn rmdir(&mut self, url: &str) -> Result<(), Error> {
        let _ = url;
        Err(Error::Unsupported)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        let _ = (from, to);
        Err(Error::Unsupported)
    }
    fn statfs(&mut self, url: &str) -> Result<FsInfo, Error> {
        let _ = url;
        Err(Error::Unsupported)
    }

    // --- serving schemes, and the registry.

    /// Routes `scheme://` to the caller from now on (one handler per scheme).
    fn register_scheme(&mut self, scheme: &'static str, kind: KindId) -> Result<(), Error> {
        let _ = (scheme, kind);
        Err(Error::Unsupported)
    }
    /// Adds an entry to the registry of kinds (`kinds` lists it).
    fn register_kind(&mut self, kind: KindId, name: &'static str) {
        let _ = (kind, name);
    }
    /// Visits the registry, in KindId order.
    fn kinds(&self, visit: &mut dyn FnMut(&KindInfo<'_>)) {
        let _ = visit;
    }
    /// Answers a request the caller kept ([`Answer::Later`]). A request whose client has gone
    /// is dropped silently.
    fn reply(&mut self, id: RequestId, reply: Reply<'_>) {
        let _ = (id, reply);
    }

    // --- the boot image.

    /// The boot archive (`bootfs` format; empty if the image has none).
    fn boot_archive(&self) -> &'static [u8] {
        &[]
    }
}

/// Extra choices for [`Host::spawn_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpawnOptions<'a> {
    /// The URL prefixes the run may open (`file:///data/app`); `None`: what the caller may.
    pub allow: Option<&'a [&'a str]>,
    /// Memory limit in bytes, below the kernel's; `None`: the kernel's limit.
    pub memory: Option<usize>,
}

/// A persistent store of fixed-size blocks (a disk; flash behind a block adapter), as the
/// boot crate hands it to the vfs service when it constructs it.
///
/// `read`/`write` move whole blocks from block `lba` on; a buffer that is not whole blocks or
/// a range past the end is `InvalidArgument` and touches nothing; a device error is `Corrupt`
/// (reads) or `NoSpace`/`ReadOnly` where that is what the device said. Written data is durable
/// once `flush` returned `Ok`.
pub trait BlockDev {
    fn info(&self) -> BlockDeviceInfo;
    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), Error>;
    fn write(&self, lba: u64, data: &[u8]) -> Result<(), Error>;
    fn flush(&self) -> Result<(), Error>;
}

/// A borrowed device is a device (a test keeps the device it hands over, to look at it after).
impl<T: BlockDev + ?Sized> BlockDev for &T {
    fn info(&self) -> BlockDeviceInfo {
        (**self).info()
    }
    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read(lba, buf)
    }
    fn write(&self, lba: u64, data: &[u8]) -> Result<(), Error> {
        (**self).write(lba, data)
    }
    fn flush(&self) -> Result<(), Error> {
        (**self).flush()
    }
}

/// An Ethernet card as the network service sees it (the boot crate hands it over when it
/// constructs the service): whole frames, polled.
pub trait NetDev {
    fn info(&self) -> NetDeviceInfo;
    /// Sends one frame; `TooLarge` past the card's MTU, `Io` if the card failed.
    fn send(&self, frame: &[u8]) -> Result<(), Error>;
    /// The next frame that arrived, copied into `buf`: its length; `None` if there is none.
    fn receive(&self, buf: &mut [u8]) -> Option<usize>;
}

/// What a [`NetDev`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDeviceInfo {
    pub mac: [u8; 6],
    pub mtu: usize,
    /// `virtio-net`.
    pub driver: &'static str,
}

/// What a [`BlockDev`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDeviceInfo {
    pub block_size: u32,
    pub blocks: u64,
    /// `virtio-blk`, `flash`, `ram-flash`.
    pub driver: &'static str,
    pub writable: bool,
}

/// A native service the kernel schedules: it is started once and then handed console input.
pub trait NativeService {
    /// A short name for logs and `ps`.
    fn name(&self) -> &'static str;
    /// Called once, when the kernel starts the service.
    fn start(&mut self, host: &mut dyn Host);
    /// Bytes that arrived on the console line (only for the service owning the console).
    fn console_input(&mut self, bytes: &[u8], host: &mut dyn Host);
    /// Bytes a run wrote to its stdout (`stream` 1) or stderr (2); for the console owner.
    fn run_output(&mut self, pid: Pid, stream: i32, bytes: &[u8], host: &mut dyn Host) {
        let _ = (pid, stream, bytes, host);
    }
    /// A run ended (every run's end is reported, once).
    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        let _ = (run, host);
    }
    /// A request for a scheme the service registered.
    fn request<'s>(&'s mut self, req: Request<'_>, host: &mut dyn Host) -> Answer<'s> {
        let _ = (req, host);
        Answer::Now(Reply::Err(Error::Unsupported))
    }
    /// Events matching the service's watch `watch` ([`Host::watch_events`]) were committed
    /// (one call per commit, however many events matched).
    fn events_committed(&mut self, watch: u32, host: &mut dyn Host) {
        let _ = (watch, host);
    }
    /// When the service next wants [`NativeService::tick`] (microseconds since boot).
    fn next_tick(&self) -> Option<u64> {
        None
    }
    /// The time asked for by [`NativeService::next_tick`] has come.
    fn tick(&mut self, host: &mut dyn Host) {
        let _ = host;
    }
}

/// A program attached to the console as its foreground client (the shell).
///
/// Output written through the `host` given to these methods goes through the console's line
/// discipline: `\n` becomes `\r\n` on the wire.
pub trait ConsoleClient {
    /// The client became the foreground client (print a prompt).
    fn attach(&mut self, host: &mut dyn Host);
    /// Input bytes from the terminal, raw.
    fn input(&mut self, bytes: &[u8], host: &mut dyn Host);
    /// A run ended (the client may be waiting for it).
    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        let _ = (run, host);
    }
    /// Output from a run is about to be written while the client may be showing a partly typed
    /// line: the client erases what it shows (and returns true if it did).
    fn hide_line(&mut self, host: &mut dyn Host) -> bool {
        let _ = host;
        false
    }
    /// Output from a run was written after [`ConsoleClient::hide_line`]: show the line again.
    fn show_line(&mut self, host: &mut dyn Host) {
        let _ = host;
    }
    /// The run in the foreground, which gets the terminal's input as its stdin (the client
    /// still sees Ctrl-C).
    fn foreground_run(&self) -> Option<Pid> {
        None
    }
}
