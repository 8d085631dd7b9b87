//! [`KernelHost`]: the kernel's implementation of the native-service system calls.
//!
//! A native service calls the kernel through [`zb_abi::Host`] while the boot loop serves it;
//! [`KernelHost`] implements every method of every role (`Console`, `System`, `Files`, `Runs`,
//! `Bus`, `Admin`, `Schemes`; `Runs::spawn` is `spawn_with` by definition), so no role default
//! stands in for the kernel's answer. URL calls
//! are routed like a run's (`crate::urls`), except that a native client cannot wait: a call to a
//! service's scheme calls that service at once ([`ServiceSlot`]), and a handler that would
//! answer later makes the call fail with `WouldBlock`.
//!
//! Invariants: a service is never entered twice at once — it is taken out of its slot while it
//! runs, so a call that would re-enter it (directly or through another service) is `Busy`.

use alloc::vec::Vec;

use zb_abi::kind::{KindId, KindInfo};
use zb_abi::scheme::{Answer, FsInfo, MAX_IO, OpenFlags, Reply, Request, Stat, Whence};
use zb_abi::syscall::{MAX_WRITE, Sysnum};
use zb_abi::{
    Admin, Bus, Console, Error, Files, FrameInfo, HeapInfo, MemInfo, NativeService, OS_VERSION,
    Pid, PowerAction, Rights, RunInfo, Runs, Schemes, SpawnOptions, SysInfo, System,
};
use zb_hal::Platform;

use crate::banner::PROFILE;
use crate::cap::Handle;
use crate::kernel::{Kernel, RunOptions};
use crate::request::{OwnedOp, OwnedReply};
use crate::scheme::{SchemeIndex, narrowed};
use crate::urls::{Delivery, HandlesRef, Routed, open_flags, remote};

/// A native service in the boot loop's list; `service` is `None` while it is being served.
pub struct ServiceSlot<'s> {
    pub pid: Pid,
    pub service: Option<&'s mut dyn NativeService>,
}

/// The host as native service `caller` sees it while the kernel serves it.
pub struct KernelHost<'k, 's> {
    platform: &'static dyn Platform,
    boot_us: u64,
    kernel: &'k mut Kernel,
    caller: Pid,
    /// The other services, for synchronous calls to their schemes.
    peers: &'k mut [ServiceSlot<'s>],
}

impl<'k, 's> KernelHost<'k, 's> {
    pub fn new(
        platform: &'static dyn Platform,
        boot_us: u64,
        kernel: &'k mut Kernel,
        caller: Pid,
    ) -> Self {
        Self::with_peers(platform, boot_us, kernel, caller, &mut [])
    }

    /// The host for `caller` with the other services reachable through `peers`.
    pub fn with_peers(
        platform: &'static dyn Platform,
        boot_us: u64,
        kernel: &'k mut Kernel,
        caller: Pid,
        peers: &'k mut [ServiceSlot<'s>],
    ) -> Self {
        KernelHost {
            platform,
            boot_us,
            kernel,
            caller,
            peers,
        }
    }

    /// Sends `op` to the handler of `scheme` through the kernel's one route
    /// ([`Kernel::route`]) and returns its answer: a service is called at once.
    fn dispatch(&mut self, scheme: SchemeIndex, op: OwnedOp) -> OwnedReply {
        let (platform, boot_us, caller) = (self.platform, self.boot_us, self.caller);
        let peers = &mut *self.peers;
        let mut call = |kernel: &mut Kernel, service: Pid, op: &OwnedOp| {
            call_service(platform, boot_us, kernel, peers, caller, service, op)
        };
        match self
            .kernel
            .route(caller, scheme, op, Delivery::Call(&mut call))
        {
            Routed::Reply(reply) => reply,
            // Not reached: a native call is never queued.
            Routed::Waiting(_) => OwnedReply::Err(Error::WouldBlock),
        }
    }

    /// Runs a path call (`Sysnum::Stat`, …) for the caller.
    fn path_call(&mut self, number: Sysnum, url: &str, second: Option<&str>) -> OwnedReply {
        let prepared =
            self.kernel
                .prepare_url_op(self.caller, None, number, url, second, OpenFlags::empty());
        match prepared {
            Ok(p) => self.dispatch(p.scheme, p.op),
            Err(e) => OwnedReply::Err(e),
        }
    }

    /// The remote object behind the caller's handle `h`.
    fn remote(&mut self, h: u32, right: Rights) -> Result<(SchemeIndex, u32), Error> {
        remote(
            self.kernel.native_table(self.caller),
            Handle(h),
            right,
            None,
        )
    }
}

/// Calls service `service` with `op` from native client `caller`, synchronously. The service is
/// out of its slot while it runs, so a call that would enter it again (directly or through
/// another service) is `Busy`.
fn call_service(
    platform: &'static dyn Platform,
    boot_us: u64,
    kernel: &mut Kernel,
    peers: &mut [ServiceSlot<'_>],
    caller: Pid,
    service: Pid,
    op: &OwnedOp,
) -> OwnedReply {
    let Some(slot) = peers.iter_mut().find(|s| s.pid == service) else {
        return OwnedReply::Err(Error::Closed);
    };
    let Some(handler) = slot.service.take() else {
        // The caller itself, or a service further up this chain of calls.
        return OwnedReply::Err(Error::Busy);
    };
    let request = Request {
        // Synchronous calls need no id: nothing is ever matched with it.
        id: 0,
        from: caller,
        op: op.as_op(),
    };
    let reply = {
        let mut host = KernelHost::with_peers(platform, boot_us, kernel, service, peers);
        match handler.request(request, &mut host) {
            Answer::Now(reply) => OwnedReply::from(reply),
            Answer::Later => OwnedReply::Err(Error::WouldBlock),
        }
    };
    if let Some(slot) = peers.iter_mut().find(|s| s.pid == service) {
        slot.service = Some(handler);
    }
    reply
}

/// The platform's memory statistics in the ABI's form.
pub(crate) fn meminfo(platform: &dyn Platform) -> MemInfo {
    let m = platform.memory();
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

/// Arguments as a run receives them: each followed by NUL.
fn pack_args(args: &[&str]) -> Result<Vec<u8>, Error> {
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
    Ok(packed)
}

impl Console for KernelHost<'_, '_> {
    fn console_write(&mut self, bytes: &[u8]) {
        self.platform.console().write(bytes);
    }

    fn console_room(&self) -> usize {
        self.platform.console().room()
    }
}

impl System for KernelHost<'_, '_> {
    fn log(&mut self, line: &str) {
        self.kernel.log(line);
    }

    fn clock_us(&self) -> u64 {
        self.platform.clock().now_us()
    }

    fn cycles(&self) -> u64 {
        self.platform.clock().cycles()
    }

    fn wall_clock(&self) -> Option<u64> {
        self.kernel.wall_clock_secs()
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
        meminfo(self.platform)
    }

    fn boot_archive(&self) -> &'static [u8] {
        self.kernel.config.boot_files
    }

    fn boot_args(&self) -> &'static str {
        self.platform.boot_args()
    }
}

impl Files for KernelHost<'_, '_> {
    fn open(&mut self, url: &str, flags: OpenFlags) -> Result<u32, Error> {
        let flags = open_flags(i64::from(flags.bits()))?;
        let p = self
            .kernel
            .prepare_url_op(self.caller, None, Sysnum::Open, url, None, flags)?;
        let reply = self.dispatch(p.scheme, p.op);
        let h =
            self.kernel
                .enter_handle(HandlesRef::Native(self.caller), p.scheme, flags, reply)?;
        Ok(h.0)
    }

    fn read(&mut self, handle: u32, buf: &mut [u8]) -> Result<usize, Error> {
        let (scheme, remote) = self.remote(handle, Rights::READ)?;
        let len = buf.len().min(MAX_IO) as u32;
        let data = self
            .dispatch(
                scheme,
                OwnedOp::Read {
                    handle: remote,
                    len,
                },
            )
            .data()?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn write(&mut self, handle: u32, data: &[u8]) -> Result<usize, Error> {
        let (scheme, remote) = self.remote(handle, Rights::WRITE)?;
        let data = data[..data.len().min(MAX_WRITE)].to_vec();
        let n = self
            .dispatch(
                scheme,
                OwnedOp::Write {
                    handle: remote,
                    data,
                },
            )
            .done()?;
        Ok(n as usize)
    }

    fn seek(&mut self, handle: u32, offset: i64, whence: Whence) -> Result<u64, Error> {
        let (scheme, remote) = self.remote(handle, Rights::empty())?;
        let op = OwnedOp::Seek {
            handle: remote,
            offset,
            whence,
        };
        self.dispatch(scheme, op).done()
    }

    fn close(&mut self, handle: u32) -> Result<(), Error> {
        let (object, _) = self
            .kernel
            .native_table(self.caller)
            .remove(Handle(handle))?;
        if let crate::object::Object::Remote { scheme, remote, .. } = object {
            // Closed now, not queued: the handler must not see later calls before it.
            let _ = self.dispatch(scheme, OwnedOp::Close { handle: remote });
        } else {
            self.kernel.release(object);
        }
        Ok(())
    }

    fn stat(&mut self, url: &str) -> Result<Stat, Error> {
        self.path_call(Sysnum::Stat, url, None).stat()
    }

    fn unlink(&mut self, url: &str) -> Result<(), Error> {
        self.path_call(Sysnum::Unlink, url, None).done().map(drop)
    }

    fn mkdir(&mut self, url: &str) -> Result<(), Error> {
        self.path_call(Sysnum::Mkdir, url, None).done().map(drop)
    }

    fn rmdir(&mut self, url: &str) -> Result<(), Error> {
        self.path_call(Sysnum::Rmdir, url, None).done().map(drop)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.path_call(Sysnum::Rename, from, Some(to))
            .done()
            .map(drop)
    }

    fn statfs(&mut self, url: &str) -> Result<FsInfo, Error> {
        self.path_call(Sysnum::StatFs, url, None).info()
    }
}

impl Runs for KernelHost<'_, '_> {
    fn spawn_with(
        &mut self,
        name: &str,
        args: &[&str],
        options: &SpawnOptions<'_>,
    ) -> Result<Pid, Error> {
        // Services are unrestricted, so any well-formed grant list narrows.
        let allow = options.allow.map(|list| narrowed(None, list)).transpose()?;
        let run = RunOptions {
            allow,
            memory: options.memory,
            kmem: options.kmem,
            // The console's runs are the shell's: commands the operator typed.
            operator: self.caller == zb_abi::runs::CONSOLE_PID,
        };
        let packed = pack_args(args)?;
        self.kernel
            .spawn_with(self.caller, name, packed, Vec::new(), run)
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

    fn replay(&mut self, pid: Pid) -> Result<Pid, Error> {
        self.kernel.replay(self.caller, pid)
    }
}

impl Bus for KernelHost<'_, '_> {
    fn watch_events(&mut self, pattern: &str) -> Result<u32, Error> {
        self.kernel.watch_events(self.caller, pattern)
    }

    fn scan_view(&mut self, view: &str, key: &str, reply: zb_abi::ScanReply<'_>) {
        match self.kernel.scan_view(view, key) {
            Ok(answer) => reply(Ok(&answer)),
            Err((e, why)) => reply(Err((e, &why))),
        }
    }

    fn seal_view(&mut self, view: &str, reply: zb_abi::SealReply<'_>) {
        match self.kernel.seal_view(view) {
            Ok(height) => reply(Ok(height)),
            Err((e, why)) => reply(Err((e, &why))),
        }
    }

    fn import_event(
        &mut self,
        event: &zb_abi::bus::ImportedEvent<'_>,
        reply: zb_abi::ImportReply<'_>,
    ) {
        match self.kernel.import_event(self.caller, event) {
            Ok(done) => reply(Ok(done)),
            Err((e, why)) => reply(Err((e, &why))),
        }
    }

    fn read_events(
        &mut self,
        from: u64,
        max: usize,
        visit: zb_abi::EventVisit<'_>,
    ) -> Result<u64, Error> {
        self.kernel.read_events(from, max, visit)
    }
}

impl Admin for KernelHost<'_, '_> {
    fn power(&mut self, action: PowerAction) -> Error {
        // What was queued (a seal's snapshot, say) reaches the journal first.
        if matches!(action, PowerAction::Shutdown | PowerAction::Reboot) {
            self.kernel.flush_events();
        }
        match action {
            PowerAction::Shutdown => self.platform.power().shutdown(true),
            PowerAction::Reboot => self.platform.power().reboot(),
            PowerAction::TestPanic if cfg!(feature = "test-hooks") => {
                panic!("deliberate kernel panic requested by the test hook")
            }
            PowerAction::TestPanic => Error::Unsupported,
        }
    }

    fn set_wall_clock(&mut self, unix_secs: u64) -> Result<(), Error> {
        self.kernel.set_wall_clock(unix_secs)
    }
}

impl Schemes for KernelHost<'_, '_> {
    fn register_scheme(&mut self, scheme: &'static str, kind: KindId) -> Result<(), Error> {
        self.kernel.register_scheme(self.caller, scheme, kind)
    }

    fn register_kind(&mut self, kind: KindId, name: &'static str) {
        self.kernel.register_kind(kind, name, self.caller);
    }

    fn kinds(&self, visit: &mut dyn FnMut(&KindInfo<'_>)) {
        self.kernel.kinds(visit);
    }

    fn reply(&mut self, id: u32, reply: Reply<'_>) {
        self.kernel
            .complete(self.caller, id, OwnedReply::from(reply));
    }
}
