//! HOST call service: what each import of `zb_abi::syscall` does.
//!
//! This is the one place where numbers from a run become memory ranges, handles or pids. Every
//! `(ptr, len)` goes through [`checked_range`]; every handle through the run's
//! [`HandleTable`] with the right it needs. Any bad argument is an error code to the run. A
//! call that fails or blocks has changed nothing (checks come before effects), which is what
//! lets a parked call be retried.
//!
//! Two paths reach the same code:
//! - **Fast**: calls that need only the run itself ([`RunSys`], its memory) and the kernel's
//!   channels ([`Shared`]) are a [`Call`], served inside the wasmi host function
//!   (`crate::link`) while the run executes; a [`Outcome::Reply`] goes straight back to wasm.
//! - **Slow**: anything else — a call that blocks or yields, and `spawn`/`wait`, which need the
//!   run table — leaves the interpreter as a [`Syscall`]; the kernel acts on the outcome the
//!   fast path found, or serves it with [`Kernel::syscall`] between slices. A parked call is
//!   served again when its run is woken: for the calls a [`Call`] serves, by the very same
//!   [`Call::serve`] (harmless: a call that blocked changed nothing).
//!
//! What a fast call must tell the kernel (output, channels whose waiters may now proceed) goes
//! into the run's outboxes in [`RunSys`]; the kernel drains them after every slice and every
//! slow call ([`Kernel::flush`]).

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use zb_abi::syscall::{
    GRANT_SIZE, Grant, MAX_ARGS, MAX_GRANTS, MAX_NAME, MAX_WRITE, NONBLOCK, STDERR, STDOUT,
    StatusKind, checked_range, encode_status, nr, recv_result,
};
use zb_abi::{Error, Pid, Rights};
use zb_hal::Clock;

use crate::cap::{Handle, HandleTable};
use crate::ipc::{MAX_MESSAGE, MAX_MESSAGE_HANDLES, Message};
use crate::kernel::{Kernel, Outcome};
use crate::object::{CHANNEL_RIGHTS, ChannelId, Channels, InTransit, Object};
use crate::run::{ExitStatus, RunTable, WaitReason};
use crate::task::{RunData, Syscall, Task};

type Served = Result<Outcome, Error>;

/// Fuel charged for each host call (on either path), so a run looping over cheap calls is
/// still preempted.
pub const SYSCALL_FUEL: u64 = 20;

/// What the calls of every run share: the kernel's channels and clock. One per kernel, held by
/// the kernel and by every run's store. The channels are borrowed only for the length of one
/// call or one kernel operation, never across [`Task::resume`] (single core, no threads), so a
/// borrow never finds them taken.
pub struct Shared {
    pub channels: RefCell<Channels>,
    pub clock: &'static dyn Clock,
    /// Messages a new channel holds per direction.
    pub channel_capacity: usize,
}

impl Shared {
    pub fn new(clock: &'static dyn Clock, channel_capacity: usize) -> Rc<Shared> {
        Rc::new(Shared {
            channels: RefCell::new(Channels::new()),
            clock,
            channel_capacity,
        })
    }
}

/// The run as its calls see it; kept in the run's wasmi store ([`RunData`]).
pub struct RunSys {
    pub pid: Pid,
    pub handles: HandleTable<Object>,
    /// Arguments, each ending with NUL (without the program name).
    pub args: Vec<u8>,
    /// Handles the parent granted at spawn, in grant order.
    pub granted: Vec<Handle>,
    /// Outbox: writes not yet handed to the kernel, as `(stream, bytes)`.
    pub output: Vec<(i32, Vec<u8>)>,
    /// Outbox: channels whose state changed (their waiters must be woken), each once.
    pub woken: Vec<ChannelId>,
    /// The outcome the fast path found for the call the run is leaving the interpreter with
    /// (it blocks or yields), so the kernel need not serve it again; `None` if the kernel must.
    pub served: Option<Outcome>,
    /// The URL prefixes the run may open; `None`: unrestricted.
    pub allow: Option<Vec<String>>,
    /// The request the run's parked call is waiting for, and the scheme it went to.
    pub awaiting: Option<(u32, crate::scheme::SchemeIndex)>,
    /// Why the run's last refused call was refused, when there is more to say than the error
    /// code (`last_error`).
    pub last_error: Option<String>,
}

impl RunSys {
    /// A run with no handles yet (its pid is set when it enters the run table).
    pub fn new(handles: usize, args: Vec<u8>) -> RunSys {
        RunSys {
            pid: 0,
            handles: HandleTable::new(handles),
            args,
            granted: Vec::new(),
            output: Vec::new(),
            woken: Vec::new(),
            served: None,
            allow: None,
            awaiting: None,
            last_error: None,
        }
    }

    /// Whether the outboxes hold anything for the kernel.
    pub fn has_outbox(&self) -> bool {
        !self.output.is_empty() || !self.woken.is_empty()
    }

    fn changed(&mut self, channel: ChannelId) {
        if !self.woken.contains(&channel) {
            self.woken.push(channel);
        }
    }
}

/// Serves call `number` for the run whose store data is `data` and memory is `mem`, if a
/// [`Call`] can; `None` for the calls only the kernel serves (`spawn`, `wait`).
pub fn serve(mem: &mut [u8], data: &mut RunData, number: u32, args: &[i64; 6]) -> Option<Outcome> {
    let RunData { sys, shared, .. } = data;
    // Not taken (see `Shared`); if it ever were, the host function would leave the call to
    // the kernel, which borrows them between slices.
    let mut channels = shared.channels.try_borrow_mut().ok()?;
    Call {
        mem,
        run: sys,
        channels: &mut channels,
        clock: shared.clock,
        channel_capacity: shared.channel_capacity,
    }
    .serve(number, args)
}

/// One host call being served: the calling run, its memory and the channels.
pub struct Call<'a> {
    pub mem: &'a mut [u8],
    pub run: &'a mut RunSys,
    pub channels: &'a mut Channels,
    pub clock: &'static dyn Clock,
    pub channel_capacity: usize,
}

impl Call<'_> {
    /// Serves call `number`; `None` if it needs the kernel (`spawn`, `wait`).
    pub fn serve(&mut self, number: u32, a: &[i64; 6]) -> Option<Outcome> {
        let served = match number {
            // A write to a remote handle, a close of one and the URL calls go to a scheme's
            // handler: the kernel routes them.
            nr::WRITE if a[0] != i64::from(STDOUT) && a[0] != i64::from(STDERR) => return None,
            nr::CLOSE if self.needs_kernel(a[0]) => return None,
            n if crate::fs::is_url_call(n) => return None,
            nr::YIELD => Ok(Outcome::Yield),
            nr::GETPID => Ok(Outcome::Reply(i64::from(self.run.pid))),
            nr::CLOCK => Ok(Outcome::Reply(self.clock.now_us() as i64)),
            nr::SLEEP => self.sleep(a[0]),
            nr::WRITE => self.write(a[0], a[1], a[2]),
            nr::ARGS => self.args(a[0], a[1]),
            nr::GRANTS => self.grants(a[0], a[1]),
            nr::CHANNEL_CREATE => self.channel_create(a[0]),
            nr::SEND => self.send(a),
            nr::RECV => self.recv(a),
            nr::CLOSE => self.close(a[0]),
            nr::SPAWN | nr::WAIT => return None,
            _ => Err(Error::Unsupported),
        };
        Some(served.unwrap_or_else(Outcome::err))
    }

    /// Whether closing handle `h` needs the kernel: remote objects and subscriptions are let
    /// go of by the kernel (`Kernel::release`), channel ends here.
    fn needs_kernel(&self, h: i64) -> bool {
        matches!(
            self.run.handles.get(handle_arg(h), Rights::empty()),
            Ok(Object::Remote { .. } | Object::Subscription { .. })
        )
    }

    fn sleep(&mut self, us: i64) -> Served {
        match us {
            ..0 => Err(Error::InvalidArgument),
            0 => Ok(Outcome::Yield),
            us => {
                let until_us = self.clock.now_us().saturating_add(us as u64);
                Ok(Outcome::Block(WaitReason::Sleep { until_us }))
            }
        }
    }

    fn write(&mut self, stream: i64, ptr: i64, len: i64) -> Served {
        if stream != i64::from(STDOUT) && stream != i64::from(STDERR) {
            return Err(Error::InvalidArgument);
        }
        let bytes = read_mem(self.mem, ptr, len, MAX_WRITE)?;
        if !bytes.is_empty() {
            self.run.output.push((stream as i32, bytes.to_vec()));
        }
        Ok(Outcome::Reply(bytes.len() as i64))
    }

    fn args(&mut self, ptr: i64, cap: i64) -> Served {
        if cap < 0 {
            return Err(Error::InvalidArgument);
        }
        let total = self.run.args.len();
        let n = total.min(cap as usize);
        let range = checked_range(ptr, n as i64, self.mem.len(), usize::MAX)?;
        self.mem[range].copy_from_slice(&self.run.args[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    fn grants(&mut self, ptr: i64, cap: i64) -> Served {
        if cap < 0 {
            return Err(Error::InvalidArgument);
        }
        let total = self.run.granted.len();
        let n = total.min(cap as usize);
        let range = checked_range(ptr, (n * 4) as i64, self.mem.len(), usize::MAX)?;
        write_handles(&mut self.mem[range], &self.run.granted[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    fn channel_create(&mut self, out: i64) -> Served {
        let range = checked_range(out, 8, self.mem.len(), 8)?;
        let handles = &mut self.run.handles;
        if handles.room() < 2 {
            return Err(Error::OutOfMemory);
        }
        let id = self.channels.create(self.channel_capacity);
        let [a, b] = Object::channel_ends(id);
        // Cannot fail: two free slots were checked above.
        let ha = handles.insert(a, CHANNEL_RIGHTS)?;
        let hb = handles.insert(b, CHANNEL_RIGHTS)?;
        write_handles(&mut self.mem[range], &[ha, hb]);
        Ok(Outcome::Reply(0))
    }

    fn send(&mut self, a: &[i64; 6]) -> Served {
        let nonblock = nonblocking(a[5])?;
        let h = handle_arg(a[0]);
        let Object::ChannelEnd { channel, end } = *self.run.handles.get(h, Rights::WRITE)? else {
            return Err(Error::BadHandle);
        };
        let bytes = read_mem(self.mem, a[1], a[2], MAX_MESSAGE)?;
        let raw = read_array(self.mem, a[3], a[4], 4, MAX_MESSAGE_HANDLES)?;
        let mut moving = Vec::new();
        for c in raw.as_chunks::<4>().0 {
            let m = Handle(u32::from_le_bytes(*c));
            if m == h {
                return Err(Error::InvalidArgument);
            }
            moving.push((m, Rights::empty()));
        }
        let transit = check_transfer(&self.run.handles, &moving)?;
        let chan = self.channels.get(channel).ok_or(Error::BadHandle)?;
        match chan.can_send(end)? {
            true => {}
            false if nonblock => return Err(Error::WouldBlock),
            false => return Ok(Outcome::Block(WaitReason::Channel { channel })),
        }
        let bytes = self.channels.message_bytes(bytes);
        // Not reached (looked up above).
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        // All checked: from here on the call has effects.
        for &(m, _) in &moving {
            let _ = self.run.handles.remove(m);
        }
        let message = Message {
            bytes,
            handles: transit,
        };
        // Cannot fail: size and space were checked above.
        if let Err((e, back)) = chan.send(end, message) {
            for (object, _) in back.handles {
                self.release(object);
            }
            return Err(e);
        }
        self.run.changed(channel);
        Ok(Outcome::Reply(0))
    }

    fn recv(&mut self, a: &[i64; 6]) -> Served {
        let nonblock = nonblocking(a[5])?;
        let h = handle_arg(a[0]);
        let handles = &mut self.run.handles;
        let Object::ChannelEnd { channel, end } = *handles.get(h, Rights::READ)? else {
            return Err(Error::BadHandle);
        };
        let bytes_range = checked_range(a[1], a[2], self.mem.len(), usize::MAX)?;
        if a[4] < 0 {
            return Err(Error::InvalidArgument);
        }
        let hcap = (a[4] as u64).min(MAX_MESSAGE_HANDLES as u64) as i64;
        let handles_range = checked_range(a[3], hcap * 4, self.mem.len(), usize::MAX)?;
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        let next = match chan.peek(end) {
            Ok(m) => m,
            Err(Error::WouldBlock) if !nonblock => {
                return Ok(Outcome::Block(WaitReason::Channel { channel }));
            }
            Err(e) => return Err(e),
        };
        if next.bytes.len() > bytes_range.len() || next.handles.len() * 4 > handles_range.len() {
            return Err(Error::TooLarge);
        }
        if next.handles.len() > handles.room() {
            return Err(Error::OutOfMemory);
        }
        // All checked: from here on the call has effects.
        let message = chan.recv(end)?;
        let n = message.bytes.len();
        self.mem[bytes_range.start..bytes_range.start + n].copy_from_slice(&message.bytes);
        self.channels.recycle(message.bytes);
        let mut at = handles_range.start;
        let received = message.handles.len();
        for (object, rights) in message.handles {
            // Cannot fail: room was checked above.
            let got = handles.insert(object, rights)?;
            write_handles(&mut self.mem[at..at + 4], &[got]);
            at += 4;
        }
        self.run.changed(channel);
        Ok(Outcome::Reply(recv_result(n, received)))
    }

    fn close(&mut self, h: i64) -> Served {
        let (object, _) = self.run.handles.remove(handle_arg(h))?;
        self.release(object);
        Ok(Outcome::Reply(0))
    }

    /// Lets go of an object (closing a channel end wakes its peer).
    fn release(&mut self, object: Object) {
        self.channels.release_into(object, &mut self.run.woken);
    }
}

impl Kernel {
    /// Serves `sys` for run `pid` (which is in EXEC), on the kernel's side.
    pub(crate) fn syscall(&mut self, pid: Pid, sys: &Syscall) -> Outcome {
        let a = &sys.args;
        let served = match sys.number {
            nr::SPAWN => self.spawn_call(pid, a),
            nr::WAIT => self.wait(pid, a[0]),
            nr::CLOSE => self.close_call(pid, a[0]),
            nr::WRITE if a[0] != i64::from(STDOUT) && a[0] != i64::from(STDERR) => {
                self.url_call(pid, sys)
            }
            n if crate::fs::is_url_call(n) => self.url_call(pid, sys),
            n if crate::events::is_bus_call(n) => self.bus_call(pid, sys),
            number => {
                let Ok(task) = live(&mut self.runs, pid) else {
                    return Outcome::err(Error::BadHandle);
                };
                let (mem, data) = task.parts();
                let outcome = serve(mem, data, number, a);
                if data.sys.has_outbox() {
                    self.flush(pid);
                }
                return outcome.unwrap_or(Outcome::err(Error::Unsupported));
            }
        };
        served.unwrap_or_else(Outcome::err)
    }

    fn spawn_call(&mut self, pid: Pid, a: &[i64; 6]) -> Served {
        let (name, args, wanted, grants) = {
            let (mem, data) = live(&mut self.runs, pid)?.parts();
            let name = read_mem(mem, a[0], a[1], MAX_NAME)?;
            let name =
                String::from(core::str::from_utf8(name).map_err(|_| Error::InvalidArgument)?);
            let args = read_mem(mem, a[2], a[3], MAX_ARGS)?.to_vec();
            if args.last().is_some_and(|&b| b != 0) {
                return Err(Error::InvalidArgument);
            }
            let raw = read_array(mem, a[4], a[5], GRANT_SIZE, MAX_GRANTS)?;
            let mut wanted = Vec::with_capacity(raw.len() / GRANT_SIZE);
            for entry in raw.as_chunks::<GRANT_SIZE>().0 {
                let g = Grant::from_bytes(*entry);
                let rights = Rights::from_bits(g.rights).ok_or(Error::InvalidArgument)?;
                wanted.push((Handle(g.handle), rights));
            }
            let grants = check_transfer(&data.sys.handles, &wanted)?;
            (name, args, wanted, grants)
        };
        self.can_spawn(&name, grants.len())?;
        // All checked: move the handles out of the caller, then start the child.
        let handles = &mut live(&mut self.runs, pid)?.data_mut().sys.handles;
        for &(h, _) in &wanted {
            let _ = handles.remove(h);
        }
        match self.spawn(pid, &name, args, grants) {
            Ok(child) => Ok(Outcome::Reply(i64::from(child))),
            Err((e, grants)) => {
                // Not reached (`can_spawn` checked the same conditions); if it were, the
                // handles are released rather than leaked.
                for (object, _) in grants {
                    self.release(object);
                }
                Err(e)
            }
        }
    }

    /// `close` on the kernel's side (a remote handle's handler must be told).
    fn close_call(&mut self, pid: Pid, h: i64) -> Served {
        let (object, _) = live(&mut self.runs, pid)?
            .data_mut()
            .sys
            .handles
            .remove(handle_arg(h))?;
        self.release(object);
        Ok(Outcome::Reply(0))
    }

    fn wait(&mut self, pid: Pid, child: i64) -> Served {
        let child = Pid::try_from(child).map_err(|_| Error::NotFound)?;
        let status = match self.runs.get(child) {
            Some(c) if c.parent == pid && c.pid != pid => c.state.status().cloned(),
            _ => return Err(Error::NotFound),
        };
        match status {
            None => Ok(Outcome::Block(WaitReason::Child { pid: child })),
            Some(status) => {
                self.runs.reap(child);
                Ok(Outcome::Reply(encode(&status)))
            }
        }
    }
}

/// The task of run `pid`, if it is a live wasm run.
pub(crate) fn live(runs: &mut RunTable, pid: Pid) -> Result<&mut Task, Error> {
    runs.get_mut(pid)
        .and_then(|r| r.task.as_mut())
        .ok_or(Error::BadHandle)
}

/// The bytes `(ptr, len)` of a run's memory, checked.
fn read_mem(mem: &[u8], ptr: i64, len: i64, limit: usize) -> Result<&[u8], Error> {
    let range = checked_range(ptr, len, mem.len(), limit)?;
    Ok(&mem[range])
}

/// `count` entries of `size` bytes at `ptr` in a run's memory, at most `max` entries: a
/// negative count is `InvalidArgument` and more than `max` is `TooLarge` (whatever the
/// pointer), then the range is checked.
fn read_array(mem: &[u8], ptr: i64, count: i64, size: usize, max: usize) -> Result<&[u8], Error> {
    if count < 0 {
        return Err(Error::InvalidArgument);
    }
    if count > max as i64 {
        return Err(Error::TooLarge);
    }
    read_mem(mem, ptr, count * size as i64, max * size)
}

/// The entries of `table` a run is passing on (to a child or in a message), checked: each
/// handle exists once, carries TRANSFER, and the requested rights (0 = the same) are a subset.
/// Nothing is removed.
pub fn check_transfer(
    table: &HandleTable<Object>,
    handles: &[(Handle, Rights)],
) -> Result<Vec<InTransit>, Error> {
    let mut out = Vec::with_capacity(handles.len());
    for (i, &(h, wanted)) in handles.iter().enumerate() {
        if handles[..i].iter().any(|&(other, _)| other == h) {
            return Err(Error::InvalidArgument);
        }
        let rights = table.rights(h)?;
        let wanted = if wanted.is_empty() { rights } else { wanted };
        let object = *table.grant(h, wanted)?;
        out.push((object, wanted));
    }
    Ok(out)
}

fn write_handles(out: &mut [u8], handles: &[Handle]) {
    for (chunk, h) in out.as_chunks_mut::<4>().0.iter_mut().zip(handles) {
        *chunk = h.0.to_le_bytes();
    }
}

/// Handles are `u32` values passed in an `i32`.
pub(crate) fn handle_arg(v: i64) -> Handle {
    Handle(v as u32)
}

/// The `flags` of `send`/`recv`: whether [`NONBLOCK`] is set; unknown bits are refused.
fn nonblocking(flags: i64) -> Result<bool, Error> {
    if flags & !i64::from(NONBLOCK) != 0 {
        Err(Error::InvalidArgument)
    } else {
        Ok(flags != 0)
    }
}

/// A status as `wait` returns it.
pub(crate) fn encode(status: &ExitStatus) -> i64 {
    match status {
        ExitStatus::Ok(code) => encode_status(StatusKind::Ok, *code),
        ExitStatus::Panic(_) => encode_status(StatusKind::Panic, 0),
        ExitStatus::Invalid(_) => encode_status(StatusKind::Invalid, 0),
        ExitStatus::Rejected(_) => encode_status(StatusKind::Rejected, 0),
    }
}
