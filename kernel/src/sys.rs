//! Run-local calls and channels: the HOST calls a run's own state and the kernel's channels
//! can serve, and the process calls (`spawn`, `wait`, `close` of a kernel-held object).
//!
//! Every handler here gets a call the gate has already decoded (`crate::gate`): its memory
//! ranges are [`Buf`]s, checked. Every handle goes through the run's [`HandleTable`] with the
//! right it needs. A call that fails or blocks has changed nothing (checks come before
//! effects), which is what lets a parked call be served again.
//!
//! [`RunCall`] is what the run-local handlers work on: the run ([`RunSys`], kept in its wasmi
//! store), its memory and the channels ([`Shared`]). The gate builds one inside the
//! interpreter, so these calls complete without leaving it; what they must tell the kernel
//! (output, channels whose waiters may now proceed) goes into the run's outboxes in
//! [`RunSys`], which the kernel drains after every slice and every call it serves
//! ([`Kernel::flush`]).

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use zb_abi::call::{Buf, Call, HandleArg, Prefix};
use zb_abi::syscall::{StatusKind, encode_status, recv_result};
use zb_abi::{Error, Pid, Rights};
use zb_hal::Clock;

use crate::account::{Account, Charge, try_copy};
use crate::cap::{Handle, HandleTable};
use crate::ipc::Message;
use crate::object::{CHANNEL_RIGHTS, ChannelId, Channels, InTransit, Object};
use crate::run::{ExitStatus, WaitReason};

/// What the calls of every run share: the kernel's channels and clock. One per kernel, held by
/// the kernel and by every run's store. The channels are borrowed only for the length of one
/// call or one kernel operation, never across [`Task::resume`] (single core, no threads), so a
/// borrow never finds them taken.
pub struct Shared {
    pub channels: RefCell<Channels>,
    pub clock: &'static dyn Clock,
    /// Messages a new channel holds per direction.
    pub channel_capacity: usize,
    /// Fuel's worth of kernel work done for the call being served that no run's store
    /// metered: a view's reducer compiled or called (`crate::views`). The kernel charges it
    /// to the calling run (`crate::calls`).
    pub work: Cell<u64>,
}

impl Shared {
    pub fn new(clock: &'static dyn Clock, channel_capacity: usize) -> Rc<Shared> {
        Rc::new(Shared {
            channels: RefCell::new(Channels::new()),
            clock,
            channel_capacity,
            work: Cell::new(0),
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
    /// Outbox: writes not yet handed to the kernel, as `(stream, bytes)` with their charge.
    pub output: Vec<(i32, Vec<u8>, Charge)>,
    /// What the kernel holds for the run is charged here (`crate::account`).
    pub account: Rc<Account>,
    /// The charge for what loading the run took (`Account::hold_loaded`).
    pub loaded: Charge,
    /// Most output bytes waiting for the console before a write waits.
    pub output_window: usize,
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
    /// The reply inboxes of requests it received (their `reply_to`), newest last, at most
    /// [`REPLY_INBOXES`]: the `_INBOX.*` subjects it may publish to, each charged to it.
    pub reply_inboxes: Vec<(String, Charge)>,
    /// Started for the operator (`RunOptions::operator`).
    pub operator: bool,
    /// Its journal quota's current window: when it began, and the bytes and events appended
    /// in it (`JournalLimits::run_bytes`).
    pub journal_window: (u64, usize, u32),
}

/// Reply inboxes a run keeps the right to publish to (the oldest is forgotten first).
pub const REPLY_INBOXES: usize = 8;

impl RunSys {
    /// A run with no handles yet (its pid is set when it enters the run table).
    pub fn new(handles: usize, args: Vec<u8>) -> RunSys {
        RunSys {
            pid: 0,
            handles: HandleTable::new(handles),
            args,
            granted: Vec::new(),
            output: Vec::new(),
            account: Account::unlimited(),
            loaded: Charge::none(),
            output_window: usize::MAX,
            woken: Vec::new(),
            served: None,
            allow: None,
            awaiting: None,
            last_error: None,
            reply_inboxes: Vec::new(),
            operator: false,
            journal_window: (0, 0, 0),
        }
    }

    /// Keeps the right to reply to `inbox` (a request's `reply_to` it received); without room
    /// in its quota the right is not kept (its reply is then refused, nothing else).
    pub fn may_reply_to(&mut self, inbox: &str) {
        if self.reply_inboxes.iter().any(|(i, _)| i == inbox) {
            return;
        }
        let Ok(charge) = self.account.charge(inbox.len()) else {
            return;
        };
        let mut copy = String::new();
        if copy.try_reserve_exact(inbox.len()).is_err() {
            return;
        }
        copy.push_str(inbox);
        if self.reply_inboxes.len() == REPLY_INBOXES {
            self.reply_inboxes.remove(0);
        }
        if self.reply_inboxes.try_reserve(1).is_ok() {
            self.reply_inboxes.push((copy, charge));
        }
    }

    /// Whether the run may publish to reply inbox `subject`.
    pub fn replies_to(&self, subject: &str) -> bool {
        self.reply_inboxes.iter().any(|(i, _)| i == subject)
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

impl RunSys {
    /// Whether closing handle `h` needs the kernel: remote objects and subscriptions are let
    /// go of by the kernel (`Kernel::release`), channel ends by the run's own call.
    pub(crate) fn held_by_kernel(&self, h: HandleArg) -> bool {
        matches!(
            self.handles.get(Handle(h), Rights::empty()),
            Ok(Object::Remote { .. } | Object::Subscription { .. })
        )
    }
}

/// What serving a host call led to.
pub(crate) enum Outcome {
    /// The call completed with this result; the run continues.
    Reply(i64),
    /// The call completed (result 0) and the run goes to the back of the ready queue.
    Yield,
    /// The call cannot complete yet: the run waits.
    Block(WaitReason),
    /// The call did part of a long job and is not complete: the run goes to the back of the
    /// ready queue and the call is served again from where it stopped (catching a
    /// subscription up with a long journal), so no call holds the kernel loop for long.
    Again,
}

impl Outcome {
    pub(crate) fn err(e: Error) -> Outcome {
        Outcome::Reply(-i64::from(e as i32))
    }
}

/// Why a call did not complete with a value.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The run is told `Error`; with a reason, `last_error` gives it (an empty reason clears
    /// the last one).
    User(Error, Option<String>),
    /// Needs more than this site has: the kernel serves it between slices.
    NotHere,
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::User(e, None)
    }
}

impl From<(Error, String)> for Refusal {
    fn from((e, why): (Error, String)) -> Refusal {
        Refusal::User(e, Some(why))
    }
}

/// What serving a call at a site gives.
pub(crate) type Served = Result<Outcome, Refusal>;

/// One run-local call being served: the calling run, its memory and the channels.
pub struct RunCall<'a> {
    pub mem: &'a mut [u8],
    pub run: &'a mut RunSys,
    pub channels: &'a mut Channels,
    pub clock: &'static dyn Clock,
    pub channel_capacity: usize,
}

impl RunCall<'_> {
    /// Serves `call`, one of the run-local family (the gate's dispatch sends only those
    /// here; anything else is not served here).
    pub(crate) fn serve(&mut self, call: &Call) -> Served {
        match *call {
            Call::GetPid => Ok(Outcome::Reply(i64::from(self.run.pid))),
            Call::Clock => Ok(Outcome::Reply(self.clock.now_us() as i64)),
            Call::Sleep { us } => self.sleep(us),
            Call::Args { out } => self.args(out),
            Call::Grants { out } => self.grants(out),
            Call::LastError { out } => self.last_error(out),
            Call::Write { handle, data } => self.write_stream(handle, data),
            Call::ChannelCreate { out } => self.channel_create(out),
            Call::Send {
                handle,
                data,
                handles,
                nonblock,
            } => self.send(handle, data, handles, nonblock),
            Call::Recv {
                handle,
                data,
                handles,
                nonblock,
            } => self.recv(handle, data, handles, nonblock),
            Call::Close { handle } => self.close(handle),
            _ => Err(Refusal::NotHere),
        }
    }

    pub(crate) fn sleep(&mut self, us: u64) -> Served {
        match us {
            0 => Ok(Outcome::Yield),
            us => {
                let until_us = self.clock.now_us().saturating_add(us);
                Ok(Outcome::Block(WaitReason::Sleep { until_us }))
            }
        }
    }

    /// A write to stdout or stderr: handed to the console as an [`crate::Event::Output`],
    /// charged to the run until the console takes it. At most the run's output window waits
    /// for the console: a write takes what fits (a short write, as `write` may) and waits
    /// (WAIT output) while nothing fits, so a flood goes at the console's pace.
    pub(crate) fn write_stream(&mut self, stream: HandleArg, data: Buf) -> Served {
        let bytes = data.of(self.mem);
        if bytes.is_empty() {
            return Ok(Outcome::Reply(0));
        }
        let account = &self.run.account;
        // Each write waiting for the console also costs its queue entry and buffer header:
        // charged too, so a run of one-byte writes fills its window as fast as its bytes would.
        let room = self
            .run
            .output_window
            .saturating_sub(account.output())
            .saturating_sub(OUTPUT_OVERHEAD);
        if room == 0 {
            return Ok(Outcome::Block(WaitReason::Output));
        }
        let n = bytes.len().min(room);
        let charge = account.charge_output(n + OUTPUT_OVERHEAD)?;
        let copy = try_copy(&bytes[..n])?;
        self.run.output.push((stream as i32, copy, charge));
        Ok(Outcome::Reply(n as i64))
    }

    pub(crate) fn args(&mut self, out: Prefix) -> Served {
        let total = self.run.args.len();
        let range = out.take(total, 1, self.mem.len())?;
        let n = range.len();
        self.mem[range].copy_from_slice(&self.run.args[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    pub(crate) fn grants(&mut self, out: Prefix) -> Served {
        let total = self.run.granted.len();
        let range = out.take(total, 4, self.mem.len())?;
        let n = range.len() / 4;
        write_handles(&mut self.mem[range], &self.run.granted[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    /// The reason for the run's last refused call (`last_error`).
    pub(crate) fn last_error(&mut self, out: Buf) -> Served {
        let why = self.run.last_error.as_deref().unwrap_or("");
        let dest = out.out(self.mem, why.len())?;
        let n = dest.len();
        dest.copy_from_slice(&why.as_bytes()[..n]);
        Ok(Outcome::Reply(why.len() as i64))
    }

    pub(crate) fn channel_create(&mut self, out: Buf) -> Served {
        let handles = &mut self.run.handles;
        if handles.room() < 2 {
            return Err(Error::OutOfMemory.into());
        }
        let id = self.channels.create(self.channel_capacity);
        let [a, b] = Object::channel_ends(id);
        // Cannot fail: two free slots were checked above.
        let ha = handles.insert(a, CHANNEL_RIGHTS)?;
        let hb = handles.insert(b, CHANNEL_RIGHTS)?;
        // Cannot fail: checked at decode, and a run's memory never shrinks.
        write_handles(out.out(self.mem, 8)?, &[ha, hb]);
        Ok(Outcome::Reply(0))
    }

    pub(crate) fn send(
        &mut self,
        handle: HandleArg,
        data: Buf,
        handles: Buf,
        nonblock: bool,
    ) -> Served {
        let h = Handle(handle);
        let Object::ChannelEnd { channel, end } = *self.run.handles.get(h, Rights::WRITE)? else {
            return Err(Error::BadHandle.into());
        };
        let bytes = data.of(self.mem);
        let mut moving = Vec::new();
        for c in handles.of(self.mem).as_chunks::<4>().0 {
            let m = Handle(u32::from_le_bytes(*c));
            if m == h {
                return Err(Error::InvalidArgument.into());
            }
            moving.push((m, Rights::empty()));
        }
        let transit = check_transfer(&self.run.handles, &moving)?;
        // Neither end of a channel travels through that channel (the smallest cycle nobody
        // could ever receive from; `crate::object`).
        if transit
            .iter()
            .any(|(o, _)| matches!(o, Object::ChannelEnd { channel: c, .. } if *c == channel))
        {
            return Err(Error::InvalidArgument.into());
        }
        let chan = self.channels.get(channel).ok_or(Error::BadHandle)?;
        match chan.can_send(end)? {
            true => {}
            false if nonblock => return Err(Error::WouldBlock.into()),
            false => return Ok(Outcome::Block(WaitReason::Channel { channel })),
        }
        // The sender pays for the message until it is received (or dropped with its channel).
        let charge = self
            .run
            .account
            .charge(message_cost(bytes.len(), transit.len()))?;
        let bytes = self.channels.message_bytes(bytes)?;
        // Not reached (looked up above).
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        // All checked: from here on the call has effects.
        for &(m, _) in &moving {
            let _ = self.run.handles.remove(m);
        }
        let message = Message {
            bytes,
            handles: transit,
            charge,
        };
        // Cannot fail: size and space were checked above.
        if let Err((e, back)) = chan.send(end, message) {
            for (object, _) in back.handles {
                self.release(object);
            }
            return Err(e.into());
        }
        self.run.changed(channel);
        Ok(Outcome::Reply(0))
    }

    pub(crate) fn recv(
        &mut self,
        handle: HandleArg,
        data: Buf,
        room: Buf,
        nonblock: bool,
    ) -> Served {
        let handles = &mut self.run.handles;
        let Object::ChannelEnd { channel, end } = *handles.get(Handle(handle), Rights::READ)?
        else {
            return Err(Error::BadHandle.into());
        };
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        let next = match chan.peek(end) {
            Ok(m) => m,
            Err(Error::WouldBlock) if !nonblock => {
                return Ok(Outcome::Block(WaitReason::Channel { channel }));
            }
            Err(e) => return Err(e.into()),
        };
        if next.bytes.len() > data.len || next.handles.len() * 4 > room.len {
            return Err(Error::TooLarge.into());
        }
        if next.handles.len() > handles.room() {
            return Err(Error::OutOfMemory.into());
        }
        // All checked: from here on the call has effects.
        // Checked at decode (a run's memory never shrinks): looked at before any effect.
        let (Some(_), Some(_)) = (self.mem.get(data.range()), self.mem.get(room.range())) else {
            return Err(Error::BadAddress.into());
        };
        let message = chan.recv(end)?;
        let n = message.bytes.len();
        data.out(self.mem, n)?.copy_from_slice(&message.bytes);
        self.channels.recycle(message.bytes);
        let received = message.handles.len();
        let dest = room.out(self.mem, received * 4)?;
        for ((object, rights), slot) in message.handles.into_iter().zip(dest.as_chunks_mut::<4>().0)
        {
            // Cannot fail: room was checked above.
            let got = handles.insert(object, rights)?;
            *slot = got.0.to_le_bytes();
        }
        self.run.changed(channel);
        Ok(Outcome::Reply(recv_result(n, received)))
    }

    pub(crate) fn close(&mut self, h: HandleArg) -> Served {
        let (object, _) = self.run.handles.remove(Handle(h))?;
        self.release(object);
        Ok(Outcome::Reply(0))
    }

    /// Lets go of an object (closing a channel end wakes its peer).
    fn release(&mut self, object: Object) {
        self.channels.release_into(object, &mut self.run.woken);
    }
}

/// Kernel heap one write waiting for the console takes beside its bytes: its entry in the
/// kernel's event queue and its buffer's allocation header.
pub(crate) const OUTPUT_OVERHEAD: usize = 64;

/// Kernel heap a message of `bytes` bytes carrying `handles` handles takes while queued (its
/// buffer, its handle list, the queue entry).
pub(crate) fn message_cost(bytes: usize, handles: usize) -> usize {
    bytes + handles * core::mem::size_of::<InTransit>() + core::mem::size_of::<Message<InTransit>>()
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

/// A status as `wait` returns it.
pub(crate) fn encode(status: &ExitStatus) -> i64 {
    match status {
        ExitStatus::Ok(code) => encode_status(StatusKind::Ok, *code),
        ExitStatus::Panic(_) => encode_status(StatusKind::Panic, 0),
        ExitStatus::Invalid(_) => encode_status(StatusKind::Invalid, 0),
        ExitStatus::Rejected(_) => encode_status(StatusKind::Rejected, 0),
    }
}
