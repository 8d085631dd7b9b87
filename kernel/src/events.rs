//! The kernel's side of the event bus ([`crate::bus::EventBus`]): the bus calls of runs —
//! `emit`, `subscribe`, `next`, `ack`, `scan`, `seal`, `timer` — here; opening the journal,
//! group commit and the wake-ups it leads to in [`commit`]; views in the kernel heap (built at
//! boot, paged in to answer, out again on a small heap) in [`paging`].
//!
//! Every argument is checked before anything happens (memory ranges, the handle and its
//! right, then the bus's own rules: subject and pattern syntax, the payload's JSON and schema
//! — `zb_bus::envelope`); a refusal with more to say than its code leaves the reason for
//! `last_error`. An `emit` parks its run in WAIT(commit) until the group commit that makes its
//! event durable; a `next` with nothing to read parks it in WAIT(event) until a matching event
//! is committed.
//!
//! Invariants: a parked call is re-executed when its run is woken and has changed nothing
//! before (the queued event is the one exception, and its answer is picked up by the very
//! re-execution, never queued twice); a run's subscriptions end with it.

mod commit;
mod federation;
mod paging;

// The call handlers below are never inlined: the gate's dispatch (`gate::serve`) is on the
// stack of every call a run makes, and must not carry the frames of the bus calls in its own.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::bus::{EMIT_DUPLICATE, EMIT_NOT_DURABLE, EventView, SubscribeOptions};
use zb_abi::call::{Buf, HandleArg};
use zb_abi::{Error, Pid, Rights};
use zb_bus::envelope::{SCHEMA_DIR, schema_path};
use zb_bus::subject::is_inbox;
use zb_bus::{Attacher, PEEK_BUDGET, Peeked};
use zb_journal::Envelope;

use crate::cap::Handle;
use crate::kernel::Kernel;
use crate::object::Object;
use crate::run::WaitReason;
use crate::run_table::live;
use crate::sys::Outcome;

/// What a bus call gives: a refusal carries the reason `last_error` reports (empty: none).
type BusServed = Result<Outcome, (Error, String)>;

fn plain(e: Error) -> (Error, String) {
    (e, String::new())
}

/// A view call's text argument (view name or key).
fn view_text(buf: Buf, mem: &[u8]) -> Result<String, (Error, String)> {
    buf.text(mem)
        .map(String::from)
        .map_err(|_| (Error::InvalidArgument, String::from("not UTF-8")))
}

impl Kernel {
    /// Checks `event`'s payload against its schema, `/etc/events/<name>.v<version>.json` in the
    /// boot image, if there is one (events without a schema are only checked to be JSON).
    fn check_schema(&self, event: &Envelope) -> Result<(), (Error, String)> {
        let path = schema_path(&event.name, event.version);
        let Some(schema) = self.programs_get(&path) else {
            return Ok(());
        };
        zb_bus::envelope::check_schema(event, &path, schema)
            .map_err(|why| (Error::InvalidArgument, why))
    }

    /// Checks every schema in the boot image (`/etc/events/*.json`); one line per unusable
    /// one, for the boot log.
    pub fn check_schemas(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for path in self.programs().filter(|p| p.starts_with(SCHEMA_DIR)) {
            let Some(schema) = self.programs_get(path) else {
                continue;
            };
            if let Some(e) = zb_bus::envelope::schema_problem(schema) {
                problems.push(format!("journal: schema {path} is unusable: {e}"));
            }
        }
        problems
    }

    /// `emit`: queues the event for the next group commit and parks the run until then.
    #[inline(never)]
    pub(crate) fn emit_call(
        &mut self,
        pid: Pid,
        subject: Buf,
        payload: Buf,
        headers: Buf,
    ) -> BusServed {
        let bus = self.bus.as_mut().ok_or_else(|| {
            (
                Error::Unsupported,
                String::from("this system has no journal"),
            )
        })?;
        // Woken after the commit: the answer is waiting.
        if let Some(answer) = bus.take_answer(pid) {
            let (seq, duplicate) = answer.map_err(|e| (e, format!("the journal refused: {e}")))?;
            let mut value = i64::try_from(seq).map_err(|_| plain(Error::Corrupt))?;
            if duplicate {
                value |= EMIT_DUPLICATE;
            }
            // Appended, but to a journal in RAM: the emitter is told, not promised durability.
            if bus.medium == crate::bus::RAM_MEDIUM {
                value |= EMIT_NOT_DURABLE;
            }
            return Ok(Outcome::Reply(value));
        }
        let now = self.shared.clock.now_us();
        let run_name = self.runs.get(pid).map_or("?", |r| r.name.as_str());
        let source = format!("run:{pid} {run_name}");
        let (mem, data) = live(&mut self.runs, pid).map_err(plain)?.parts();
        let name = subject.text(mem).map_err(|_| {
            (
                Error::InvalidArgument,
                String::from("the subject is not UTF-8"),
            )
        })?;
        let payload = payload.of(mem);
        let headers = headers.text(mem).map_err(|_| {
            (
                Error::InvalidArgument,
                String::from("the headers are not UTF-8"),
            )
        })?;
        let reply = data.sys.replies_to(name);
        let event = zb_bus::envelope::emitted(source, now, name, payload, headers, reply)
            .map_err(|why| (Error::InvalidArgument, why))?;
        self.authorise_bus(pid, "publish", &event.name)?;
        self.check_schema(&event)?;
        self.take_journal_quota(pid, event.encoded_len(), now)?;
        if let Some(bus) = self.bus.as_mut() {
            bus.queue(pid, event);
        }
        Ok(Outcome::Block(WaitReason::Commit))
    }

    /// Checks run `pid`'s bus call against its grants: `right` (`publish`, `subscribe`,
    /// `scan`, `seal`, `timer`) on `target` (a subject, pattern, view or timer name) needs a
    /// grant `bus://<right>/<pattern>` covering it, when the run is restricted at all. The one
    /// place bus grants are enforced; a denial is logged as a file denial is.
    pub(crate) fn authorise_bus(
        &mut self,
        pid: Pid,
        right: &str,
        target: &str,
    ) -> Result<(), (Error, String)> {
        let run = self.runs.get(pid).and_then(|r| r.task.as_ref());
        let Some(grants) = run.and_then(|t| t.data().sys.allow.as_deref()) else {
            return Ok(());
        };
        let url = format!("bus://{right}/{target}");
        if crate::scheme::allowed(Some(grants), &url) {
            return Ok(());
        }
        // Denied: the grants are copied for the log line only.
        let grants = grants.to_vec();
        let e = self.deny(pid, Some(&grants), right, &url);
        Err((e, format!("{url} is outside the run's grants")))
    }

    /// Who run `pid` is to the bus: its program (what owns durable consumers and timers), and
    /// who it acts as — the operator, for a command typed at the console, else its program.
    fn bus_identity(&self, pid: Pid) -> (&'static str, Attacher<'static>) {
        let run = self.runs.get(pid);
        let program = run.and_then(|r| r.program).unwrap_or("?");
        let operator = run
            .and_then(|r| r.task.as_ref())
            .is_some_and(|t| t.data().sys.operator);
        let acting = if operator {
            Attacher::Operator
        } else {
            Attacher::Program(program)
        };
        (program, acting)
    }

    /// Counts `bytes` (one event) against run `pid`'s journal quota for the window at
    /// `now_us`; over it, `NoSpace` for this run only (and nothing is counted).
    fn take_journal_quota(
        &mut self,
        pid: Pid,
        bytes: usize,
        now_us: u64,
    ) -> Result<(), (Error, String)> {
        let limits = self.config.journal;
        let sys = &mut live(&mut self.runs, pid).map_err(plain)?.data_mut().sys;
        let (start, used, events) = match sys.journal_window {
            (start, used, events) if now_us.saturating_sub(start) < limits.quota_window_us => {
                (start, used, events)
            }
            _ => (now_us, 0, 0),
        };
        if used + bytes > limits.run_bytes || events >= limits.run_events {
            let secs = limits.quota_window_us / 1_000_000;
            return Err((
                Error::NoSpace,
                format!(
                    "journal quota: {events} events, {} in the last {secs} s (at most {}, {} events)",
                    zb_abi::fmt::Bytes(used as u64),
                    zb_abi::fmt::Bytes(limits.run_bytes as u64),
                    limits.run_events
                ),
            ));
        }
        sys.journal_window = (start, used + bytes, events + 1);
        Ok(())
    }

    /// `subscribe`: a subscription handle (or, with `delete=1`, deletes a durable consumer).
    #[inline(never)]
    pub(crate) fn subscribe_call(&mut self, pid: Pid, pattern: Buf, options: Buf) -> BusServed {
        let (pattern, options) = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            let bad = |what: &str| (Error::InvalidArgument, format!("the {what} is not UTF-8"));
            (
                String::from(pattern.text(mem).map_err(|_| bad("pattern"))?),
                String::from(options.text(mem).map_err(|_| bad("options text"))?),
            )
        };
        zb_bus::subject::check_pattern(&pattern)
            .map_err(|e| (Error::InvalidArgument, format!("pattern {pattern:?}: {e}")))?;
        self.authorise_bus(pid, "subscribe", &pattern)?;
        let now = self.shared.clock.now_us();
        let options = SubscribeOptions::parse(&options).map_err(|e| {
            (
                e,
                String::from(
                    "options: queue=, durable=, from=N|all|new, max_deliver=, ack_wait_ms=, wait_ms=, delete=1 (with durable=)",
                ),
            )
        })?;
        // A durable consumer is its program's: the run's program is who attaches it, and
        // the operator may delete any.
        let (program, acting) = self.bus_identity(pid);
        let bus = self.bus.as_mut().ok_or_else(|| {
            (
                Error::Unsupported,
                String::from("this system has no journal"),
            )
        })?;
        let denied = |name: &str| {
            (
                Error::PermissionDenied,
                format!("durable consumer {name} belongs to another program"),
            )
        };
        if let (true, Some(name)) = (options.delete, options.durable) {
            return match bus.delete_consumer_as(name, acting, now) {
                Ok(()) => Ok(Outcome::Reply(0)),
                Err(Error::Busy) => Err((
                    Error::Busy,
                    format!("durable consumer {name} has a subscriber"),
                )),
                Err(Error::PermissionDenied) => Err(denied(name)),
                Err(e) => Err((e, format!("no durable consumer {name}"))),
            };
        }
        let by = Attacher::Program(program);
        let sub = bus.subscribe_as(pid, by, &pattern, &options).map_err(|e| {
            let why = match (e, options.durable) {
                (Error::PermissionDenied, Some(name)) => return denied(name),
                (Error::Busy, _) => {
                    String::from("that durable subscription is in use by another subscriber")
                }
                (_, Some(_)) => format!(
                    "too many subscriptions ({} per run, {} in all) or durable consumers ({} per \
                     program, {} in all; `consumer rm` deletes one)",
                    zb_bus::SUBSCRIPTION_SHARE,
                    zb_bus::MAX_SUBSCRIPTIONS,
                    zb_bus::CONSUMER_SHARE,
                    zb_bus::MAX_CONSUMERS
                ),
                _ => format!(
                    "too many subscriptions ({} per run, {} in all)",
                    zb_bus::SUBSCRIPTION_SHARE,
                    zb_bus::MAX_SUBSCRIPTIONS
                ),
            };
            (e, why)
        })?;
        let inserted = live(&mut self.runs, pid)
            .and_then(|t| {
                t.data_mut()
                    .sys
                    .handles
                    .insert(Object::Subscription { sub }, Rights::READ)
            })
            .map_err(plain);
        match inserted {
            Ok(h) => Ok(Outcome::Reply(i64::from(h.0))),
            Err(e) => {
                if let Some(bus) = self.bus.as_mut() {
                    bus.unsubscribe(sub, now);
                }
                Err(e)
            }
        }
    }

    /// `next`: the subscription's next event, written at `out`; parks the run until one comes.
    #[inline(never)]
    pub(crate) fn next_call(
        &mut self,
        pid: Pid,
        handle: HandleArg,
        out: Buf,
        nonblock: bool,
    ) -> BusServed {
        let sub = self.subscription_of(pid, handle).map_err(plain)?;
        let now = self.shared.clock.now_us();
        let bus = self.bus.as_mut().ok_or(plain(Error::Unsupported))?;
        let found = match bus.peek_within(sub, now, PEEK_BUDGET).map_err(plain)? {
            Peeked::Found(found) => Some(found),
            // Caught up part of the way: on with the rest after other runs had their turn.
            Peeked::More => return Ok(Outcome::Again),
            Peeked::Nothing => None,
        };
        let Some(found) = found else {
            if nonblock {
                return Err(plain(Error::WouldBlock));
            }
            return if bus.wait_or_time_out(sub, now).map_err(plain)? {
                Ok(Outcome::Block(WaitReason::Event { sub }))
            } else {
                Err((
                    Error::TimedOut,
                    String::from("nothing arrived within wait_ms"),
                ))
            };
        };
        let headers = found.event.header_lines();
        let view = EventView {
            seq: found.seq,
            ts_us: found.event.ts_us,
            correlation_id: found.event.correlation_id,
            causation_id: found.event.causation_id,
            version: found.event.version,
            attempt: u16::try_from(found.attempt).unwrap_or(u16::MAX),
            name: &found.event.name,
            source: &found.event.source,
            tenant: &found.event.tenant,
            headers: &headers,
            payload: &found.event.payload,
        };
        let (mem, data) = live(&mut self.runs, pid).map_err(plain)?.parts();
        let dest = out.out(mem, out.len).map_err(plain)?;
        let n = view.encode(dest).map_err(|e| {
            (
                e,
                format!("the next event needs a {}-byte buffer", view.encoded_len()),
            )
        })?;
        // A request: the run that receives it may publish its reply to the inbox it names.
        if let Some(inbox) = found.event.header("reply_to").filter(|s| is_inbox(s)) {
            data.sys.may_reply_to(inbox);
        }
        if let Some(bus) = self.bus.as_mut() {
            bus.take(sub, found.seq, now);
        }
        Ok(Outcome::Reply(n as i64))
    }

    /// `scan`: view `view`'s answer about `key`, written at `out`.
    #[inline(never)]
    pub(crate) fn scan_call(&mut self, pid: Pid, view: Buf, key: Buf, out: Buf) -> BusServed {
        let (view, key) = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            (view_text(view, mem)?, view_text(key, mem)?)
        };
        self.authorise_bus(pid, "scan", &view)?;
        let answer = self.scan_view(&view, &key)?;
        if answer.len() > out.len {
            return Err((
                Error::TooLarge,
                format!("the answer needs a {}-byte buffer", answer.len()),
            ));
        }
        let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
        out.out(mem, answer.len())
            .map_err(plain)?
            .copy_from_slice(&answer);
        Ok(Outcome::Reply(answer.len() as i64))
    }

    /// `seal`: snapshots view `view`; its height.
    #[inline(never)]
    pub(crate) fn seal_call(&mut self, pid: Pid, view: Buf) -> BusServed {
        let view = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            view_text(view, mem)?
        };
        self.authorise_bus(pid, "seal", &view)?;
        let height = self.seal_view(&view)?;
        Ok(Outcome::Reply(i64::try_from(height).unwrap_or(i64::MAX)))
    }

    /// `timer`: sets or cancels a timer.
    #[inline(never)]
    pub(crate) fn timer_call(&mut self, pid: Pid, spec: Buf) -> BusServed {
        let text = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            String::from(
                spec.text(mem)
                    .map_err(|_| (Error::InvalidArgument, String::from("not UTF-8")))?,
            )
        };
        let spec = zb_abi::bus::TimerSpec::parse(&text)
            .map_err(|why| (Error::InvalidArgument, String::from(why)))?;
        self.authorise_bus(pid, "timer", spec.name)?;
        let now = self.shared.clock.now_us();
        // A timer is its setter's program's (the operator's, for a command typed at the
        // console), and starts its program with the setter's grants.
        let (_, by) = self.bus_identity(pid);
        let run = self.runs.get(pid).and_then(|r| r.task.as_ref());
        let allow = run.and_then(|t| t.data().sys.allow.clone());
        let bus = self.bus.as_mut().ok_or(plain(Error::Unsupported))?;
        bus.set_timer_as(&spec, now, pid, by, allow)?;
        Ok(Outcome::Reply(0))
    }

    /// The subscription behind run `pid`'s handle `h` (which needs the read right).
    fn subscription_of(&mut self, pid: Pid, h: HandleArg) -> Result<u32, Error> {
        match *live(&mut self.runs, pid)?
            .data()
            .sys
            .handles
            .get(Handle(h), Rights::READ)?
        {
            Object::Subscription { sub } => Ok(sub),
            _ => Err(Error::BadHandle),
        }
    }

    /// `ack`: a durable subscription's event is done, or failed.
    #[inline(never)]
    pub(crate) fn ack_call(
        &mut self,
        pid: Pid,
        handle: HandleArg,
        seq: u64,
        failed: bool,
    ) -> BusServed {
        let sub = self.subscription_of(pid, handle).map_err(plain)?;
        let now = self.shared.clock.now_us();
        let bus = self.bus.as_mut().ok_or(plain(Error::Unsupported))?;
        bus.ack(sub, seq, failed, now).map_err(|e| {
            let why = match e {
                Error::Unsupported => "not a durable subscription",
                _ => "that event is not waiting for an answer",
            };
            (e, String::from(why))
        })?;
        Ok(Outcome::Reply(0))
    }
}
