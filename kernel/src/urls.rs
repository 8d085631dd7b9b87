//! URL calls: `open`, `read`, `write` on remote handles, `seek`, `stat`, `readdir`, `unlink`,
//! `mkdir`, `rmdir`, `rename`, `statfs` — the kernel's side of routing them (DESIGN.md §4).
//!
//! The kernel does not implement files. A call is checked (memory ranges, handle and right,
//! URL syntax, the caller's URL grants) and turned into an [`OwnedOp`] for the scheme's
//! handler ([`crate::scheme::SchemeRouter`]). `proc`/`mem` are answered at once by
//! [`crate::kfiles`]; a service's scheme is a request the run waits for in
//! WAIT(reply) (`crate::request`). When the reply is in, the parked call runs again and
//! *finishes*: it copies data into the run's memory or enters the new handle in its table.
//!
//! The same checks and the same finishing serve native clients (the shell, init) through
//! [`crate::KernelHost`], which calls the handler synchronously instead of waiting.
//!
//! Invariants:
//! - A call changes nothing in the run before its request is sent: a bad argument is an error
//!   with no request sent. Finishing re-checks the memory range (memory only grows).
//! - A denied URL is `PermissionDenied` and one log line; no request reaches the handler.
//! - A remote handle is closed exactly once: by `close`, or when its holder ends.

use alloc::format;
use alloc::string::String;

use zb_abi::call::{Buf, Call};
use zb_abi::scheme::{MAX_IO, OpenFlags, RemoteHandle, STDIN};
use zb_abi::syscall::Sysnum;
use zb_abi::{Error, Pid, Rights};

use alloc::rc::Rc;

use crate::account::{Account, Charge};
use crate::cap::{Handle, HandleTable};
use crate::kernel::Kernel;
use crate::kfiles::{Client, KernelState};
use crate::object::Object;
use crate::request::{OwnedOp, OwnedReply};
use crate::run::WaitReason;
use crate::run_table::live;
use crate::scheme::{Route, SchemeIndex, Target, allowed};
use crate::sys::Outcome;

type Served = Result<Outcome, Error>;

/// Handles a native service may hold open at once.
pub const NATIVE_HANDLES: usize = 64;

/// How a request reaches a service's scheme ([`Kernel::route`]).
pub(crate) enum Delivery<'a> {
    /// A run's: queued for the service, with what the run was charged; the run waits.
    Queue(Charge),
    /// Nobody waits for the answer (the kernel closing a run's handle).
    Post,
    /// A native client's: the service is called at once (a native service cannot wait).
    Call(&'a mut dyn FnMut(&mut Kernel, Pid, &OwnedOp) -> OwnedReply),
}

/// Where a routed request stands.
pub(crate) enum Routed {
    /// Answered (a kernel scheme, a native call, or a posted request: `Done(0)`).
    Reply(OwnedReply),
    /// Queued for a service: the client waits for request `id`.
    Waiting(u32),
}

/// A checked call, ready to go to its scheme's handler.
pub(crate) struct Prepared {
    pub scheme: SchemeIndex,
    pub op: OwnedOp,
}

impl Kernel {
    /// Serves URL call `call` for run `pid` (or finishes it, when its reply is in).
    pub(crate) fn url_call(&mut self, pid: Pid, call: &Call) -> crate::sys::Served {
        let sys = &mut live(&mut self.runs, pid)?.data_mut().sys;
        if let Some((id, scheme)) = sys.awaiting.take() {
            let Some(reply) = self.inflight.take_reply(id) else {
                // Woken before the reply came: keep waiting (nothing was done twice).
                sys.awaiting = Some((id, scheme));
                return Ok(Outcome::Block(WaitReason::Reply { request: id }));
            };
            return Ok(self.finish_run_call(pid, call, scheme, reply)?);
        }
        let (Prepared { scheme, op }, account) = self.prepare_run_call(pid, call)?;
        // The run pays for the request and its reply while they are in flight.
        let charge = account.charge(op.cost())?;
        match self.route(pid, scheme, op, Delivery::Queue(charge)) {
            Routed::Reply(reply) => Ok(self.finish_run_call(pid, call, scheme, reply)?),
            Routed::Waiting(id) => {
                live(&mut self.runs, pid)?.data_mut().sys.awaiting = Some((id, scheme));
                Ok(Outcome::Block(WaitReason::Reply { request: id }))
            }
        }
    }

    /// Takes `op` from client `from` to the handler of `scheme`: the one route of every
    /// request, for runs, native services and the kernel's own closes. The kernel's schemes
    /// answer here and now; a service's scheme is reached as `delivery` says.
    pub(crate) fn route(
        &mut self,
        from: Pid,
        scheme: SchemeIndex,
        op: OwnedOp,
        delivery: Delivery<'_>,
    ) -> Routed {
        match (self.router.route(scheme), delivery) {
            (None, _) => Routed::Reply(OwnedReply::Err(Error::NotFound)),
            (Some(Route::Kernel(k)), _) => Routed::Reply(self.serve_kernel_scheme(k, from, &op)),
            (Some(Route::Service(service)), Delivery::Queue(charge)) => {
                Routed::Waiting(self.inflight.send(from, scheme, service, op, charge))
            }
            (Some(Route::Service(service)), Delivery::Post) => {
                self.inflight.post(from, service, op);
                Routed::Reply(OwnedReply::Done(0))
            }
            (Some(Route::Service(service)), Delivery::Call(call)) => {
                Routed::Reply(call(self, service, &op))
            }
        }
    }

    /// `proc`/`mem` answer at once.
    pub(crate) fn serve_kernel_scheme(
        &mut self,
        scheme: crate::scheme::KernelScheme,
        from: Pid,
        op: &OwnedOp,
    ) -> OwnedReply {
        let state = KernelState {
            runs: &self.runs,
            memory: self.memory_probe.map(|probe| probe()),
            log: &self.log,
            bus: self.bus.as_ref(),
        };
        let task = self.runs.get(from).and_then(|r| r.task.as_ref());
        let client = Client {
            pid: from,
            account: task.map(|t| &t.data().sys.account),
        };
        self.kfiles.serve(scheme, &client, op.as_op(), &state)
    }

    /// Checks run `pid`'s call and builds its request; with the account the run pays from.
    fn prepare_run_call(
        &mut self,
        pid: Pid,
        call: &Call,
    ) -> Result<(Prepared, Rc<Account>), Error> {
        let (mem, data) = live(&mut self.runs, pid)?.parts();
        let account = data.sys.account.clone();
        let handles = &data.sys.handles;
        let url = |buf: Buf| buf.text(mem).map(String::from);
        // Calls on a handle are complete here; calls on URLs continue below.
        let (first, second, flags) = match *call {
            Call::Open { url: u, flags } => (url(u)?, None, flags),
            Call::Unlink { url: u }
            | Call::Mkdir { url: u }
            | Call::Rmdir { url: u }
            | Call::Stat { url: u, .. }
            | Call::StatFs { url: u, .. } => (url(u)?, None, OpenFlags::empty()),
            Call::Rename { from, to } => (url(from)?, Some(url(to)?), OpenFlags::empty()),
            Call::Read { handle, out } | Call::ReadDir { handle, out } => {
                let len = out.len.min(MAX_IO) as u32;
                let dir = matches!(call, Call::ReadDir { .. });
                if !dir && handle == STDIN {
                    let scheme = self.router.index("console").ok_or(Error::Unsupported)?;
                    let op = OwnedOp::Read { handle, len };
                    return Ok((Prepared { scheme, op }, account));
                }
                let (scheme, handle) = remote(handles, Handle(handle), Rights::READ, Some(dir))?;
                let op = OwnedOp::Read { handle, len };
                return Ok((Prepared { scheme, op }, account));
            }
            Call::Write { handle, data } => {
                let (scheme, handle) = remote(handles, Handle(handle), Rights::WRITE, Some(false))?;
                let data = data.of(mem).to_vec();
                let op = OwnedOp::Write { handle, data };
                return Ok((Prepared { scheme, op }, account));
            }
            Call::Seek {
                handle,
                offset,
                whence,
            } => {
                let (scheme, handle) = remote(handles, Handle(handle), Rights::empty(), None)?;
                let op = OwnedOp::Seek {
                    handle,
                    offset,
                    whence,
                };
                return Ok((Prepared { scheme, op }, account));
            }
            _ => return Err(Error::Unsupported),
        };
        let allow = data.sys.allow.clone();
        let prepared = self.prepare_url_op(
            pid,
            allow.as_deref(),
            call.sysnum(),
            &first,
            second.as_deref(),
            flags,
        )?;
        Ok((prepared, account))
    }

    /// Resolves the URL(s) of a path call, checks them against `allow`, and builds the op.
    /// `number` is the call (`nr::OPEN`, …).
    pub(crate) fn prepare_url_op(
        &mut self,
        client: Pid,
        allow: Option<&[String]>,
        number: Sysnum,
        url: &str,
        second: Option<&str>,
        flags: OpenFlags,
    ) -> Result<Prepared, Error> {
        let what = number.name();
        let target = self.authorise_url(client, allow, what, url)?;
        let scheme = target.scheme;
        let path = target.path;
        let op = match number {
            Sysnum::Open => OwnedOp::Open {
                scheme: self.router.name(scheme),
                path,
                flags,
            },
            Sysnum::Stat => OwnedOp::Stat { path },
            Sysnum::StatFs => OwnedOp::StatFs { path },
            Sysnum::Unlink => OwnedOp::Unlink { path },
            Sysnum::Mkdir => OwnedOp::Mkdir { path },
            Sysnum::Rmdir => OwnedOp::Rmdir { path },
            Sysnum::Rename => {
                let second = second.ok_or(Error::InvalidArgument)?;
                let to = self.authorise_url(client, allow, what, second)?;
                if to.scheme != scheme {
                    return Err(Error::Unsupported);
                }
                OwnedOp::Rename {
                    from: path,
                    to: to.path,
                }
            }
            _ => return Err(Error::Unsupported),
        };
        Ok(Prepared { scheme, op })
    }

    /// Resolves `url` and checks it against `client`'s URL grants: the one place URL grants
    /// are enforced, for runs and native clients alike; a denial is logged.
    pub(crate) fn authorise_url(
        &mut self,
        client: Pid,
        allow: Option<&[String]>,
        what: &str,
        url: &str,
    ) -> Result<Target, Error> {
        let target = Target::resolve(&self.router, url)?;
        if allow.is_some_and(|grants| !allowed(Some(grants), &target.canonical(url))) {
            return Err(self.deny(client, allow, what, &target.canonical(url)));
        }
        Ok(target)
    }

    /// Logs that `client` holding `allow` was denied `what` on `url`; `PermissionDenied`.
    pub(crate) fn deny(
        &mut self,
        client: Pid,
        allow: Option<&[String]>,
        what: &str,
        url: &str,
    ) -> Error {
        let name = self.runs.get(client).map_or("?", |r| r.name.as_str());
        let grants = allow.map(|g| g.join(" ")).unwrap_or_default();
        let line = format!(
            "kernel: denied {what} {url} to pid {client} ({name}): outside its grants ({grants})"
        );
        self.log(&line);
        Error::PermissionDenied
    }

    /// Finishes run `pid`'s call with the handler's `reply`.
    fn finish_run_call(
        &mut self,
        pid: Pid,
        call: &Call,
        scheme: SchemeIndex,
        reply: OwnedReply,
    ) -> Served {
        let value = match *call {
            Call::Open { flags, .. } => {
                let h = self.enter_handle(HandlesRef::Run(pid), scheme, flags, reply)?;
                i64::from(h.0)
            }
            Call::Read { out, .. } | Call::ReadDir { out, .. } => {
                let data = reply.data()?;
                let (mem, _) = live(&mut self.runs, pid)?.parts();
                let dest = out.out(mem, data.len())?;
                let n = dest.len();
                dest.copy_from_slice(&data[..n]);
                n as i64
            }
            Call::Stat { out, .. } => {
                let stat = reply.stat()?;
                let (mem, _) = live(&mut self.runs, pid)?.parts();
                out.out(mem, out.len)?.copy_from_slice(&stat.to_bytes());
                0
            }
            Call::StatFs { out, .. } => {
                let info = reply.info()?;
                let (mem, _) = live(&mut self.runs, pid)?.parts();
                out.out(mem, out.len)?.copy_from_slice(&info.to_bytes());
                0
            }
            Call::Write { .. } | Call::Seek { .. } => {
                i64::try_from(reply.done()?).map_err(|_| Error::Corrupt)?
            }
            _ => {
                reply.done()?;
                0
            }
        };
        Ok(Outcome::Reply(value))
    }

    /// Enters the handle an `open` returned in `table`; if the table is full, the handler's
    /// handle is closed again and the error is `OutOfMemory`.
    pub(crate) fn enter_handle(
        &mut self,
        table: HandlesRef,
        scheme: SchemeIndex,
        flags: OpenFlags,
        reply: OwnedReply,
    ) -> Result<Handle, Error> {
        let remote = RemoteHandle::try_from(reply.done()?).map_err(|_| Error::Corrupt)?;
        let object = Object::Remote {
            scheme,
            remote,
            dir: flags.contains(OpenFlags::DIRECTORY),
        };
        let mut rights = Rights::empty();
        if flags.intersects(OpenFlags::READ | OpenFlags::DIRECTORY) {
            rights |= Rights::READ;
        }
        if flags.contains(OpenFlags::WRITE) {
            rights |= Rights::WRITE;
        }
        let inserted = match table {
            HandlesRef::Run(pid) => live(&mut self.runs, pid)
                .map(|t| t.data_mut().sys.handles.insert(object, rights))
                .and_then(|r| r),
            HandlesRef::Native(pid) => self.native_table(pid).insert(object, rights),
        };
        inserted.inspect_err(|_| self.release(object))
    }

    /// The handle table of native service `pid`.
    pub(crate) fn native_table(&mut self, pid: Pid) -> &mut HandleTable<Object> {
        self.native_handles
            .entry(pid)
            .or_insert_with(|| HandleTable::new(NATIVE_HANDLES))
    }

    /// Lets go of a remote object: its handler is told to close it.
    pub(crate) fn close_remote(&mut self, from: Pid, scheme: SchemeIndex, remote: RemoteHandle) {
        let op = OwnedOp::Close { handle: remote };
        let _ = self.route(from, scheme, op, Delivery::Post);
    }

    /// A handler's reply to request `id`: the client waiting for it is woken.
    pub fn complete(&mut self, service: Pid, id: u32, reply: OwnedReply) {
        let Some(client) = self.inflight.complete(service, id, reply) else {
            return;
        };
        let waits = self.runs.get(client).is_some_and(|r| {
            matches!(&r.state, crate::run::RunState::Wait(w)
                if *w.reason() == WaitReason::Reply { request: id })
        });
        if waits {
            self.wake(client);
        }
    }
}

/// Which handle table an `open` enters its handle in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HandlesRef {
    Run(Pid),
    Native(Pid),
}

pub(crate) use zb_abi::call::open_flags;

/// The remote object behind handle `h` with `right`; `dir` says what it must be (`None`:
/// either).
pub(crate) fn remote(
    table: &HandleTable<Object>,
    h: Handle,
    right: Rights,
    dir: Option<bool>,
) -> Result<(SchemeIndex, RemoteHandle), Error> {
    match *table.get(h, right)? {
        Object::Remote {
            scheme,
            remote,
            dir: is_dir,
        } => match dir {
            Some(true) if !is_dir => Err(Error::NotADirectory),
            Some(false) if is_dir => Err(Error::IsADirectory),
            _ => Ok((scheme, remote)),
        },
        Object::ChannelEnd { .. } | Object::Subscription { .. } => Err(Error::BadHandle),
    }
}
