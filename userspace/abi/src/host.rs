//! The host interface for native services.
//!
//! Wasm runs reach the kernel through the HOST import module; services compiled into the image
//! (console, vfs, net, init, the shell) reach it through [`Host`], the same calls expressed as
//! Rust traits. The kernel implements it; services never see kernel types.
//!
//! [`Host`] is the sum of role traits, so that code names only the part of the host it uses
//! and a test stubs only that:
//!
//! | role | calls | used by |
//! |---|---|---|
//! | [`Console`] | `console_write` | the console service (and, through it, the shell) |
//! | [`System`] | `log`, `clock_us`, `cycles`, `wall_clock`, `sysinfo`, `meminfo`, `boot_archive` | every service |
//! | [`Files`] | `open`, `read`, `write`, `seek`, `close`, `stat`, `unlink`, `mkdir`, `rmdir`, `rename`, `statfs` | the shell, the net service's status pages |
//! | [`Runs`] | `spawn`, `spawn_with`, `kill`, `runs`, `replay` | the shell, init, the status pages |
//! | [`Bus`] | `watch_events`, `scan_view`, `seal_view` | init (`start-on`), the shell (`scan`, `seal`) |
//! | [`Admin`] | `power`, `set_wall_clock` | the shell (`shutdown`, `reboot`, `date -s`) |
//! | [`Schemes`] | `register_scheme`, `register_kind`, `kinds`, `reply` | the services that serve schemes; the shell (`kinds`) |
//!
//! A [`NativeService`] is handed the whole [`Host`] (the kernel calls every service alike, and
//! the console hands it on to its client); its helpers take the narrowest role that does, e.g.
//! `&mut dyn Files` (a `&mut dyn Host` coerces to any of its roles).
//!
//! Defaults: [`Console`] and the core of [`System`] have none. The methods of the other roles
//! default to what a host without that role answers — `Unsupported`, nothing to visit, a
//! dropped reply — each documented on the method, so a test host that has no use for a role
//! writes `impl Files for TestHost {}`. The kernel implements every method, and a wrapper
//! forwards every one with [`forward!`](crate::forward), so no default stands in for a real
//! host's answer.
//!
//! Devices are not looked up through the host: the boot crate constructs the service that owns
//! one with it ([`BlockDev`] for the vfs, [`NetDev`] for the net service), as a Tock board hands
//! a capsule its device.

use crate::bus::{EventView, ImportedEvent};
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

/// Gets a view's answer to `scan` ([`Bus::scan_view`]), or the error and why in words.
pub type ScanReply<'r> = &'r mut dyn FnMut(Result<&[u8], (Error, &str)>);
/// Gets the height a view was sealed at ([`Bus::seal_view`]), or the error and why.
pub type SealReply<'r> = &'r mut dyn FnMut(Result<u64, (Error, &str)>);
/// What [`Bus::read_events`] shows each event to: the event, and its origin (node, sequence
/// number there) if it was imported.
pub type EventVisit<'r> = &'r mut dyn FnMut(&EventView<'_>, Option<(&str, u64)>);
/// The answer to [`Bus::import_event`]: the event's local sequence number and whether the
/// journal already held it, or the error and why in words.
pub type ImportReply<'r> = &'r mut dyn FnMut(Result<(u64, bool), (Error, &str)>);

/// The whole host: every role. Implemented for anything that implements them all; name a
/// single role where that is all the code needs.
pub trait Host: System + Files + Runs + Bus + Admin + Schemes {}

impl<T: System + Files + Runs + Bus + Admin + Schemes + ?Sized> Host for T {}

/// The terminal.
pub trait Console {
    /// Writes bytes to the terminal, unmodified.
    fn console_write(&mut self, bytes: &[u8]);
    /// Bytes the terminal takes now without falling behind (see `zb_hal::Console::room`).
    /// Default: no limit (a UART's write waits for the line instead).
    fn console_room(&self) -> usize {
        usize::MAX
    }
}

/// What every service uses: the system log, the clocks, facts about the system.
pub trait System: Console {
    /// Writes one line to the system log (`dmesg`; the kernel prints it on the console,
    /// prefixed with the caller's name). Default, for a host without a log: the line on the
    /// console.
    fn log(&mut self, line: &str) {
        self.console_write(line.as_bytes());
        self.console_write(b"\n");
    }
    /// Microseconds since kernel entry (monotonic).
    fn clock_us(&self) -> u64;
    /// The CPU's cycle counter, or the finest monotonic counter the platform has, for
    /// measuring short intervals (`time`, benchmarks). Only differences between two readings
    /// mean something: the starting point is arbitrary and the rate is platform-specific (on
    /// x86_64 it is the TSC, which ticks at a constant rate whatever the core's clock; on
    /// stm32f4 it is derived from the microsecond clock, at the core clock's rate).
    fn cycles(&self) -> u64;
    /// The wall clock: seconds since 1970-01-01 00:00 UTC, if the platform has a real-time
    /// clock or it was set ([`Admin::set_wall_clock`]). Default: `None` (not known).
    fn wall_clock(&self) -> Option<u64> {
        None
    }
    /// Static facts about the system.
    fn sysinfo(&self) -> SysInfo;
    /// Current memory statistics.
    fn meminfo(&self) -> MemInfo;
    /// The boot archive (`bootfs` format). Default: empty (the image has none).
    fn boot_archive(&self) -> &'static [u8] {
        &[]
    }
    /// The boot arguments the machine was started with, `key=value` words (`node=pc-a
    /// nats=10.0.2.100:4222`): QEMU's fw_cfg on a PC, the page's query in a browser. Default:
    /// none.
    fn boot_args(&self) -> &'static str {
        ""
    }
}

/// URLs, as a client: the same calls a run makes (DESIGN.md §4). Paths are absolute URLs or
/// absolute paths (`/etc/motd` means `file:///etc/motd`); handles are the caller's. Every
/// default is `Unsupported` (a host that serves no URLs).
pub trait Files {
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
    /// Writes at the handle's position (at the end, for a handle opened with `APPEND`); how
    /// many bytes were taken.
    fn write(&mut self, handle: u32, data: &[u8]) -> Result<usize, Error> {
        let _ = (handle, data);
        Err(Error::Unsupported)
    }
    /// Moves the handle's position; the new position.
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
    /// Size and free space of the file system holding `url`.
    fn statfs(&mut self, url: &str) -> Result<FsInfo, Error> {
        let _ = url;
        Err(Error::Unsupported)
    }
}

/// Starting, ending, listing and replaying runs.
pub trait Runs {
    /// Starts `/bin/<name>` with `args` as a child of the caller, with `options`. A module
    /// that does not load still gets a pid (it is DONE at once with `invalid` or `rejected`,
    /// reported through [`NativeService::run_exited`]); a name with no program is `NotFound`.
    /// Default: `Unsupported` (a host that starts no runs).
    fn spawn_with(
        &mut self,
        name: &str,
        args: &[&str],
        options: &SpawnOptions<'_>,
    ) -> Result<Pid, Error> {
        let _ = (name, args, options);
        Err(Error::Unsupported)
    }
    /// [`Runs::spawn_with`] with the default options (what the caller may open; the kernel's
    /// memory limit). Defined by `spawn_with`; not meant to be overridden.
    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error> {
        self.spawn_with(name, args, &SpawnOptions::default())
    }
    /// Ends a run with `rejected: killed`. `NotFound` if there is no such live run;
    /// `PermissionDenied` for a service. Default: `Unsupported`.
    fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        let _ = pid;
        Err(Error::Unsupported)
    }
    /// Visits every run and service, in pid order (finished runs are kept for a while).
    /// Default: visits nothing (no runs).
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        let _ = visit;
    }
    /// Replays finished run `pid` from its recorded inputs, as a child of the caller; the
    /// replay's pid. Its output is the verdict (`identical <hash> …` or `diverged at call N:
    /// …`). `Busy`: the run has not finished; `NotFound`: no recording of it is kept;
    /// `TooLarge`: its recording outgrew the kernel's limit. Default: `Unsupported`.
    fn replay(&mut self, pid: Pid) -> Result<Pid, Error> {
        let _ = pid;
        Err(Error::Unsupported)
    }
}

/// The event bus as a service uses it directly: watches and views.
pub trait Bus {
    /// Tells the calling native service of every commit of events matching `pattern` (NATS
    /// wildcards), through [`NativeService::events_committed`] with the number returned here.
    /// init uses it to start runs on events. `InvalidArgument`: not a valid pattern.
    /// Default: `Unsupported`.
    fn watch_events(&mut self, pattern: &str) -> Result<u32, Error> {
        let _ = pattern;
        Err(Error::Unsupported)
    }
    /// Asks view `view` about `key`, as a run's `scan` call does; `reply` gets the answer, or
    /// the error and why in words (e.g. `view ledger.balances has nothing for "bob"`).
    /// Default: `Unsupported`.
    fn scan_view(&mut self, view: &str, key: &str, reply: ScanReply<'_>) {
        let _ = (view, key);
        reply(Err((Error::Unsupported, "")));
    }
    /// Snapshots view `view` at its height, as a run's `seal` call does; `reply` gets the
    /// height, or the error and why in words. Default: `Unsupported`.
    fn seal_view(&mut self, view: &str, reply: SealReply<'_>) {
        let _ = view;
        reply(Err((Error::Unsupported, "")));
    }
    /// Appends an event that was emitted on another node (the federation link's import): it
    /// is checked like a run's emit (subject, headers, JSON, schema) and committed before this
    /// returns, so `Ok` means durable. `Ok((seq, true))`: the journal already holds it
    /// (`reply` gets the answer, or the error and why in words) (its
    /// origin's sequence number is at or below what was applied from that node). Errors:
    /// `InvalidArgument` (with why), `NoSpace` (the journal is full, or knows too many
    /// origins), `Unsupported` (no journal). Default: `Unsupported`.
    fn import_event(&mut self, event: &ImportedEvent<'_>, reply: ImportReply<'_>) {
        let _ = event;
        reply(Err((Error::Unsupported, "")));
    }
    /// Visits committed events from sequence number `from` on, oldest first, at most `max`
    /// of them; `visit` gets each with its origin (`Some((node, seq))` for an imported one).
    /// Returns the sequence number after the last one visited (where to go on from).
    /// Default: `Unsupported`.
    fn read_events(&mut self, from: u64, max: usize, visit: EventVisit<'_>) -> Result<u64, Error> {
        let _ = (from, max, visit);
        Err(Error::Unsupported)
    }
}

/// Changing the machine: its power and its wall clock.
pub trait Admin {
    /// Performs a power action. Returns only if it was refused, with the reason. Default:
    /// `Unsupported`.
    fn power(&mut self, action: PowerAction) -> Error {
        let _ = action;
        Error::Unsupported
    }
    /// Sets the wall clock to `unix_secs` (UTC); cron timers follow it. `InvalidArgument` for
    /// a time before boot or after the year 9999. Default: `Unsupported`.
    fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        let _ = unix_secs;
        Err(Error::Unsupported)
    }
}

/// Serving schemes, and the registry of kinds.
pub trait Schemes {
    /// Routes `scheme://` to the caller from now on (one handler per scheme). Default:
    /// `Unsupported`.
    fn register_scheme(&mut self, scheme: &'static str, kind: KindId) -> Result<(), Error> {
        let _ = (scheme, kind);
        Err(Error::Unsupported)
    }
    /// Adds an entry to the registry of kinds (`kinds` lists it). Default: ignored (no
    /// registry).
    fn register_kind(&mut self, kind: KindId, name: &'static str) {
        let _ = (kind, name);
    }
    /// Visits the registry, in KindId order. Default: visits nothing.
    fn kinds(&self, visit: &mut dyn FnMut(&KindInfo<'_>)) {
        let _ = visit;
    }
    /// Answers a request the caller kept ([`Answer::Later`]). A request whose client has gone
    /// is dropped silently. Default: dropped (a host that never routes requests has none
    /// waiting).
    fn reply(&mut self, id: RequestId, reply: Reply<'_>) {
        let _ = (id, reply);
    }
}

/// Implements host roles for a wrapper by forwarding every call to the host in one of its
/// fields: `forward!(TerminalHost<'_> => inner: System, Files, Runs, Bus, Admin, Schemes);`
/// (the roles it does not change; it implements the others itself). Every method of each
/// role is forwarded, defaults included, so the wrapper answers exactly as the inner host.
#[macro_export]
macro_rules! forward {
    ($ty:ty => $inner:ident: $($role:ident),+ $(,)?) => {
        $($crate::forward!(@$role $ty, $inner);)+
    };
    (@Console $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Console;
            impl $crate::Console for $ty {
                fn console_write(&mut self, bytes: &[u8]) {
                    self.$inner.console_write(bytes)
                }
            }
        };
    };
    (@System $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::System;
            impl $crate::System for $ty {
                fn log(&mut self, line: &str) {
                    self.$inner.log(line)
                }
                fn clock_us(&self) -> u64 {
                    self.$inner.clock_us()
                }
                fn cycles(&self) -> u64 {
                    self.$inner.cycles()
                }
                fn wall_clock(&self) -> Option<u64> {
                    self.$inner.wall_clock()
                }
                fn sysinfo(&self) -> $crate::SysInfo {
                    self.$inner.sysinfo()
                }
                fn meminfo(&self) -> $crate::MemInfo {
                    self.$inner.meminfo()
                }
                fn boot_archive(&self) -> &'static [u8] {
                    self.$inner.boot_archive()
                }
                fn boot_args(&self) -> &'static str {
                    self.$inner.boot_args()
                }
            }
        };
    };
    (@Files $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Files;
            use $crate::Error;
            impl $crate::Files for $ty {
                fn open(&mut self, url: &str, flags: $crate::scheme::OpenFlags) -> Result<u32, Error> {
                    self.$inner.open(url, flags)
                }
                fn read(&mut self, handle: u32, buf: &mut [u8]) -> Result<usize, Error> {
                    self.$inner.read(handle, buf)
                }
                fn write(&mut self, handle: u32, data: &[u8]) -> Result<usize, Error> {
                    self.$inner.write(handle, data)
                }
                fn seek(
                    &mut self,
                    handle: u32,
                    offset: i64,
                    whence: $crate::scheme::Whence,
                ) -> Result<u64, Error> {
                    self.$inner.seek(handle, offset, whence)
                }
                fn close(&mut self, handle: u32) -> Result<(), Error> {
                    self.$inner.close(handle)
                }
                fn stat(&mut self, url: &str) -> Result<$crate::scheme::Stat, Error> {
                    self.$inner.stat(url)
                }
                fn unlink(&mut self, url: &str) -> Result<(), Error> {
                    self.$inner.unlink(url)
                }
                fn mkdir(&mut self, url: &str) -> Result<(), Error> {
                    self.$inner.mkdir(url)
                }
                fn rmdir(&mut self, url: &str) -> Result<(), Error> {
                    self.$inner.rmdir(url)
                }
                fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
                    self.$inner.rename(from, to)
                }
                fn statfs(&mut self, url: &str) -> Result<$crate::scheme::FsInfo, Error> {
                    self.$inner.statfs(url)
                }
            }
        };
    };
    (@Runs $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Runs;
            use $crate::{Error, Pid};
            impl $crate::Runs for $ty {
                fn spawn_with(
                    &mut self,
                    name: &str,
                    args: &[&str],
                    options: &$crate::SpawnOptions<'_>,
                ) -> Result<Pid, Error> {
                    self.$inner.spawn_with(name, args, options)
                }
                fn spawn(&mut self, name: &str, args: &[&str]) -> Result<Pid, Error> {
                    self.$inner.spawn(name, args)
                }
                fn kill(&mut self, pid: Pid) -> Result<(), Error> {
                    self.$inner.kill(pid)
                }
                fn runs(&self, visit: &mut dyn FnMut(&$crate::RunInfo<'_>)) {
                    self.$inner.runs(visit)
                }
                fn replay(&mut self, pid: Pid) -> Result<Pid, Error> {
                    self.$inner.replay(pid)
                }
            }
        };
    };
    (@Bus $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Bus;
            impl $crate::Bus for $ty {
                fn watch_events(&mut self, pattern: &str) -> Result<u32, $crate::Error> {
                    self.$inner.watch_events(pattern)
                }
                fn scan_view(&mut self, view: &str, key: &str, reply: $crate::ScanReply<'_>) {
                    self.$inner.scan_view(view, key, reply)
                }
                fn seal_view(&mut self, view: &str, reply: $crate::SealReply<'_>) {
                    self.$inner.seal_view(view, reply)
                }
                fn import_event(
                    &mut self,
                    event: &$crate::bus::ImportedEvent<'_>,
                    reply: $crate::ImportReply<'_>,
                ) {
                    self.$inner.import_event(event, reply)
                }
                fn read_events(
                    &mut self,
                    from: u64,
                    max: usize,
                    visit: $crate::EventVisit<'_>,
                ) -> Result<u64, $crate::Error> {
                    self.$inner.read_events(from, max, visit)
                }
            }
        };
    };
    (@Admin $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Admin;
            impl $crate::Admin for $ty {
                fn power(&mut self, action: $crate::PowerAction) -> $crate::Error {
                    self.$inner.power(action)
                }
                fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), $crate::Error> {
                    self.$inner.set_wall_clock(unix_secs)
                }
            }
        };
    };
    (@Schemes $ty:ty, $inner:ident) => {
        const _: () = {
            // For method calls on an inner host of a concrete type.
            #[allow(unused_imports)]
            use $crate::Schemes;
            impl $crate::Schemes for $ty {
                fn register_scheme(
                    &mut self,
                    scheme: &'static str,
                    kind: $crate::kind::KindId,
                ) -> Result<(), $crate::Error> {
                    self.$inner.register_scheme(scheme, kind)
                }
                fn register_kind(&mut self, kind: $crate::kind::KindId, name: &'static str) {
                    self.$inner.register_kind(kind, name)
                }
                fn kinds(&self, visit: &mut dyn FnMut(&$crate::kind::KindInfo<'_>)) {
                    self.$inner.kinds(visit)
                }
                fn reply(&mut self, id: $crate::scheme::RequestId, reply: $crate::scheme::Reply<'_>) {
                    self.$inner.reply(id, reply)
                }
            }
        };
    };
}

/// Extra choices for [`Runs::spawn_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpawnOptions<'a> {
    /// The URL prefixes the run may open (`file:///data/app`); `None`: what the caller may.
    pub allow: Option<&'a [&'a str]>,
    /// Memory limit in bytes, below the kernel's; `None`: the kernel's limit.
    pub memory: Option<usize>,
    /// Kernel-memory quota in bytes (what the kernel may hold for the run: output, messages,
    /// requests); `None`: the platform's default.
    pub kmem: Option<usize>,
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
///
/// Every entry point gets the whole [`Host`]: the kernel calls every service alike, and the
/// console service hands the host on to its client (the shell), which uses every role. A
/// service's own helpers take the roles they need (`&mut dyn System`, `&mut dyn Files`, …).
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
    /// How many more bytes of run output the service takes now (for the console owner: room
    /// in its bounded queue). While it is 0 the kernel hands the service no events: run
    /// output stays queued in the kernel, in order and charged to the runs that wrote it, and
    /// a run whose output window is full waits (WAIT output). Default: no limit.
    fn output_room(&self) -> usize {
        usize::MAX
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
    /// Events matching the service's watch `watch` ([`Bus::watch_events`]) were committed
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

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    use super::*;

    /// A host whose every answer differs from every default, and that notes each call.
    #[derive(Default)]
    struct Inner {
        calls: Vec<&'static str>,
    }

    impl Console for Inner {
        fn console_write(&mut self, _: &[u8]) {
            self.calls.push("console_write");
        }
    }
    impl System for Inner {
        fn log(&mut self, _: &str) {
            self.calls.push("log");
        }
        fn clock_us(&self) -> u64 {
            1
        }
        fn cycles(&self) -> u64 {
            2
        }
        fn wall_clock(&self) -> Option<u64> {
            Some(3)
        }
        fn sysinfo(&self) -> SysInfo {
            SysInfo {
                version: "v",
                platform: "p",
                machine: "m",
                profile: "debug",
                boot_us: 4,
            }
        }
        fn meminfo(&self) -> MemInfo {
            MemInfo {
                ram_total: 5,
                ..MemInfo::default()
            }
        }
        fn boot_archive(&self) -> &'static [u8] {
            b"archive"
        }
        fn boot_args(&self) -> &'static str {
            "node=t"
        }
    }
    impl Files for Inner {
        fn open(&mut self, _: &str, _: OpenFlags) -> Result<u32, Error> {
            Ok(6)
        }
        fn read(&mut self, _: u32, _: &mut [u8]) -> Result<usize, Error> {
            Ok(7)
        }
        fn write(&mut self, _: u32, _: &[u8]) -> Result<usize, Error> {
            Ok(8)
        }
        fn seek(&mut self, _: u32, _: i64, _: Whence) -> Result<u64, Error> {
            Ok(9)
        }
        fn close(&mut self, _: u32) -> Result<(), Error> {
            self.calls.push("close");
            Ok(())
        }
        fn stat(&mut self, _: &str) -> Result<Stat, Error> {
            Err(Error::NotFound)
        }
        fn unlink(&mut self, _: &str) -> Result<(), Error> {
            self.calls.push("unlink");
            Ok(())
        }
        fn mkdir(&mut self, _: &str) -> Result<(), Error> {
            self.calls.push("mkdir");
            Ok(())
        }
        fn rmdir(&mut self, _: &str) -> Result<(), Error> {
            self.calls.push("rmdir");
            Ok(())
        }
        fn rename(&mut self, _: &str, _: &str) -> Result<(), Error> {
            self.calls.push("rename");
            Ok(())
        }
        fn statfs(&mut self, _: &str) -> Result<FsInfo, Error> {
            Err(Error::Busy)
        }
    }
    impl Runs for Inner {
        fn spawn_with(&mut self, _: &str, _: &[&str], o: &SpawnOptions<'_>) -> Result<Pid, Error> {
            Ok(if o.memory.is_some() { 11 } else { 10 })
        }
        fn kill(&mut self, _: Pid) -> Result<(), Error> {
            self.calls.push("kill");
            Ok(())
        }
        fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
            visit(&RunInfo {
                pid: 12,
                parent: 0,
                kind: crate::RunKind::Service,
                name: "x",
                state: crate::StateName::Wait,
                wait: None,
                memory: 0,
                fuel: 0,
                exit: None,
            });
        }
        fn replay(&mut self, _: Pid) -> Result<Pid, Error> {
            Ok(13)
        }
    }
    impl Bus for Inner {
        fn watch_events(&mut self, _: &str) -> Result<u32, Error> {
            Ok(14)
        }
        fn scan_view(&mut self, _: &str, _: &str, reply: ScanReply<'_>) {
            reply(Ok(b"15"));
        }
        fn seal_view(&mut self, _: &str, reply: SealReply<'_>) {
            reply(Ok(16));
        }
    }
    impl Admin for Inner {
        fn power(&mut self, _: PowerAction) -> Error {
            Error::Busy
        }
        fn set_wall_clock(&mut self, _: u64) -> Result<(), Error> {
            self.calls.push("set_wall_clock");
            Ok(())
        }
    }
    impl Schemes for Inner {
        fn register_scheme(&mut self, _: &'static str, _: KindId) -> Result<(), Error> {
            self.calls.push("register_scheme");
            Ok(())
        }
        fn register_kind(&mut self, _: KindId, _: &'static str) {
            self.calls.push("register_kind");
        }
        fn kinds(&self, visit: &mut dyn FnMut(&KindInfo<'_>)) {
            visit(&KindInfo {
                id: KindId(17),
                name: "k",
                provider: 0,
            });
        }
        fn reply(&mut self, _: RequestId, _: Reply<'_>) {
            self.calls.push("reply");
        }
    }

    /// A wrapper that forwards every role.
    struct Wrapper<'a> {
        inner: &'a mut dyn Host,
    }
    crate::forward!(Wrapper<'_> => inner: Console, System, Files, Runs, Bus, Admin, Schemes);

    #[test]
    fn forward_reaches_every_method_of_every_role() {
        let mut inner = Inner::default();
        let mut w = Wrapper { inner: &mut inner };
        let h: &mut dyn Host = &mut w;
        h.console_write(b"");
        h.log("");
        assert_eq!((h.clock_us(), h.cycles(), h.wall_clock()), (1, 2, Some(3)));
        assert_eq!((h.sysinfo().boot_us, h.meminfo().ram_total), (4, 5));
        assert_eq!(h.boot_archive(), b"archive");
        assert_eq!(h.open("/", OpenFlags::READ), Ok(6));
        assert_eq!(h.read(0, &mut []), Ok(7));
        assert_eq!(h.write(0, &[]), Ok(8));
        assert_eq!(h.seek(0, 0, Whence::Start), Ok(9));
        h.close(0).unwrap();
        assert_eq!(h.stat("/"), Err(Error::NotFound));
        h.unlink("/").unwrap();
        h.mkdir("/").unwrap();
        h.rmdir("/").unwrap();
        h.rename("/", "/").unwrap();
        assert_eq!(h.statfs("/"), Err(Error::Busy));
        assert_eq!(h.spawn("x", &[]), Ok(10));
        let options = SpawnOptions {
            memory: Some(1),
            ..SpawnOptions::default()
        };
        assert_eq!(h.spawn_with("x", &[], &options), Ok(11));
        h.kill(0).unwrap();
        let mut pids = Vec::new();
        h.runs(&mut |r| pids.push(r.pid));
        assert_eq!(pids, [12]);
        assert_eq!(h.replay(0), Ok(13));
        assert_eq!(h.watch_events(">"), Ok(14));
        let mut got = String::new();
        h.scan_view("v", "k", &mut |r| {
            got = String::from_utf8(r.unwrap().to_vec()).unwrap()
        });
        h.seal_view("v", &mut |r| got.push_str(&std::format!("+{}", r.unwrap())));
        assert_eq!(got, "15+16");
        assert_eq!(h.power(PowerAction::Reboot), Error::Busy);
        h.set_wall_clock(0).unwrap();
        h.register_scheme("s", KindId(0)).unwrap();
        h.register_kind(KindId(0), "k");
        let mut kinds = Vec::new();
        h.kinds(&mut |k| kinds.push(k.id));
        assert_eq!(kinds, [KindId(17)]);
        h.reply(0, Reply::Done(0));
        assert_eq!(
            inner.calls,
            [
                "console_write",
                "log",
                "close",
                "unlink",
                "mkdir",
                "rmdir",
                "rename",
                "kill",
                "set_wall_clock",
                "register_scheme",
                "register_kind",
                "reply"
            ]
        );
    }
}
