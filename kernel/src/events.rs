//! The bus calls of runs: `emit`, `subscribe`, `next`, `ack`, and `last_error` — the kernel's
//! side of [`crate::bus::EventBus`].
//!
//! Every argument is checked before anything happens (memory ranges, the handle and its right,
//! then the bus's own rules — subject and pattern syntax, the payload's JSON and schema:
//! `zb_bus::envelope`); a refusal with more to say than its code leaves the reason for
//! `last_error`. An `emit` parks its run in WAIT(commit) until the group commit that makes its
//! event durable; a `next` with nothing to read parks it in WAIT(event) until a matching event
//! is committed.
//!
//! Invariants: a parked call is re-executed when its run is woken and has changed nothing
//! before (the queued event is the one exception, and its answer is picked up by the very
//! re-execution, never queued twice); a run's subscriptions end with it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::bus::{EMIT_DUPLICATE, EventView, SubscribeOptions};
use zb_abi::call::{Buf, HandleArg};
use zb_abi::{Error, Pid, Rights};
use zb_bus::envelope::{SCHEMA_DIR, schema_path};
use zb_journal::Envelope;

use zb_hal::log::LogStorage;
use zb_journal::{Geometry, JournalConfig};

use crate::bus::{EventBus, Store};
use crate::cap::Handle;
use crate::kernel::Kernel;
use crate::object::Object;
use crate::run::{LoadFailure, WaitReason};
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
    /// Opens the journal on the platform's `region` (in RAM, not durable, when there is none
    /// or it cannot be used); returns the line for the boot log.
    pub fn open_journal(&mut self, region: Option<&'static dyn LogStorage>) -> String {
        let limits = self.config.journal;
        let config = JournalConfig {
            max_record: limits.max_record,
            dedupe_window: limits.dedupe_window,
        };
        let mut problem = None;
        if let Some(region) = region {
            match EventBus::open(Store::Region(region), region.driver(), config) {
                Ok((bus, line)) => {
                    self.bus = Some(bus);
                    return line;
                }
                Err(e) => problem = Some(e),
            }
        }
        let ram = zb_journal::RamMedium::new(Geometry {
            segment_bytes: limits.ram_segment,
            segments: limits.ram_segments,
            write_unit: 4,
        });
        let config = JournalConfig {
            max_record: limits.max_record,
            dedupe_window: limits.dedupe_window,
        };
        let why = match problem {
            Some(e) => format!("its region failed ({e})"),
            None => String::from("no journal region"),
        };
        match EventBus::open(Store::Ram(ram), "ram", config) {
            Ok((bus, _)) => {
                self.bus = Some(bus);
                format!("journal: in RAM, not durable ({why})")
            }
            Err(e) => format!("journal: none ({why}; RAM: {e})"),
        }
    }

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
            let value = i64::try_from(seq).map_err(|_| plain(Error::Corrupt))?;
            return Ok(Outcome::Reply(if duplicate {
                value | EMIT_DUPLICATE
            } else {
                value
            }));
        }
        let now = self.shared.clock.now_us();
        let run_name = self.runs.get(pid).map_or("?", |r| r.name.as_str());
        let source = format!("run:{pid} {run_name}");
        let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
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
        let event = zb_bus::envelope::emitted(source, now, name, payload, headers)
            .map_err(|why| (Error::InvalidArgument, why))?;
        self.check_schema(&event)?;
        if let Some(bus) = self.bus.as_mut() {
            bus.queue(pid, event);
        }
        Ok(Outcome::Block(WaitReason::Commit))
    }

    /// `subscribe`: a subscription handle (or, with `delete=1`, deletes a durable consumer).
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
        let now = self.shared.clock.now_us();
        let options = SubscribeOptions::parse(&options).map_err(|e| {
            (
                e,
                String::from(
                    "options: queue=, durable=, from=N|all|new, max_deliver=, ack_wait_ms=, wait_ms=, delete=1 (with durable=)",
                ),
            )
        })?;
        let bus = self.bus.as_mut().ok_or_else(|| {
            (
                Error::Unsupported,
                String::from("this system has no journal"),
            )
        })?;
        if let (true, Some(name)) = (options.delete, options.durable) {
            return match bus.delete_consumer(name, now) {
                Ok(()) => Ok(Outcome::Reply(0)),
                Err(Error::Busy) => Err((
                    Error::Busy,
                    format!("durable consumer {name} has a subscriber"),
                )),
                Err(e) => Err((e, format!("no durable consumer {name}"))),
            };
        }
        let sub = bus.subscribe(pid, &pattern, &options).map_err(|e| {
            let why = match e {
                Error::Busy => "that durable subscription is in use by another subscriber",
                _ => "too many subscriptions",
            };
            (e, String::from(why))
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
        let Some(found) = bus.peek(sub, now).map_err(plain)? else {
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
        let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
        let dest = out.out(mem, out.len).map_err(plain)?;
        let n = view.encode(dest).map_err(|e| {
            (
                e,
                format!("the next event needs a {}-byte buffer", view.encoded_len()),
            )
        })?;
        if let Some(bus) = self.bus.as_mut() {
            bus.take(sub, found.seq, now);
        }
        Ok(Outcome::Reply(n as i64))
    }

    /// `scan`: view `view`'s answer about `key`, written at `out`.
    pub(crate) fn scan_call(&mut self, pid: Pid, view: Buf, key: Buf, out: Buf) -> BusServed {
        let (view, key) = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            (view_text(view, mem)?, view_text(key, mem)?)
        };
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
    pub(crate) fn seal_call(&mut self, pid: Pid, view: Buf) -> BusServed {
        let view = {
            let (mem, _) = live(&mut self.runs, pid).map_err(plain)?.parts();
            view_text(view, mem)?
        };
        let height = self.seal_view(&view)?;
        Ok(Outcome::Reply(i64::try_from(height).unwrap_or(i64::MAX)))
    }

    /// What view `view` says about `key` (a run's `scan`, and the shell's).
    pub(crate) fn scan_view(&mut self, view: &str, key: &str) -> Result<Vec<u8>, (Error, String)> {
        if view.len() > zb_abi::view::MAX_VIEW_NAME || key.len() > zb_abi::view::INPUT_BYTES {
            return Err((
                Error::TooLarge,
                String::from("the view name or key is too long"),
            ));
        }
        self.using_view(view, |k| k.bus_mut()?.scan(view, key))
    }

    /// Snapshots view `view` at its height (a run's `seal`, and the shell's).
    pub(crate) fn seal_view(&mut self, view: &str) -> Result<u64, (Error, String)> {
        if view.len() > zb_abi::view::MAX_VIEW_NAME {
            return Err((Error::TooLarge, String::from("the view name is too long")));
        }
        let now = self.shared.clock.now_us();
        self.using_view(view, |k| {
            k.bus_mut()?.current_view(view)?;
            // A snapshot is queued as hex events (twice the memory's bytes, with a copy of
            // the memory while they are made, and a commit's buffer): refused while the heap
            // cannot take that, rather than run the kernel out of memory.
            if let (Some(free), Some((wasm, _))) = (
                k.heap_free,
                k.bus.as_ref().and_then(|b| b.view_program(view)),
            ) {
                let need = crate::kernel::declared_memory(wasm)
                    .saturating_mul(4)
                    .saturating_add(4096);
                if need > free() {
                    return Err((
                        Error::OutOfMemory,
                        format!(
                            "not enough kernel memory to seal view {view} now (needs about {}, {} free)",
                            zb_abi::fmt::Bytes(need as u64),
                            zb_abi::fmt::Bytes(free() as u64)
                        ),
                    ));
                }
            }
            k.bus_mut()?.seal(view, now)
        })
    }

    fn bus_mut(&mut self) -> Result<&mut EventBus, (Error, String)> {
        self.bus.as_mut().ok_or((Error::Unsupported, String::new()))
    }

    /// Does `work` with view `view` (paged in first if it was out, when the heap can take it),
    /// then, on a small heap (the config keeps no compiled code), pages views out again:
    /// resident only while they work, they neither hold the heap nor cut it into pieces
    /// between uses. The next use compiles the reducer again and catches up.
    fn using_view<T>(
        &mut self,
        view: &str,
        work: impl FnOnce(&mut Self) -> Result<T, (Error, String)>,
    ) -> Result<T, (Error, String)> {
        self.admit_view(view)?;
        let result = work(self);
        self.release_views();
        result
    }

    /// Pages views out, on a small heap (see [`Kernel::using_view`]).
    fn release_views(&mut self) {
        if !self.config.keep_compiled
            && let Some(bus) = self.bus.as_mut()
        {
            bus.page_out_views();
        }
    }

    /// Refuses to page view `name` back in when the heap clearly cannot hold it (as a program
    /// is refused: [`Kernel::admit`]); nothing to do for a resident view.
    fn admit_view(&mut self, name: &str) -> Result<(), (Error, String)> {
        let Some(wasm) = self.bus.as_ref().and_then(|b| b.paged_out_program(name)) else {
            return Ok(());
        };
        self.admit_reducer(wasm).map_err(|e| {
            let (LoadFailure::Invalid(why) | LoadFailure::Rejected(why)) = e;
            (
                Error::OutOfMemory,
                format!("view {name} was paged out to free memory and cannot be loaded now: {why}"),
            )
        })
    }

    /// Loads the views the boot image declares (`/etc/views/<name>.view`); a line for the boot
    /// log per view.
    pub fn open_views(&mut self, platform: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let limits = crate::views::ViewLimits {
            memory_bytes: self.config.limits.memory_bytes,
            stack_bytes: self.config.limits.stack_bytes,
        };
        let shared = self.shared.clone();
        let declared: Vec<&'static str> = self
            .programs()
            .filter(|p| p.starts_with(zb_abi::view::VIEW_DIR) && p.ends_with(".view"))
            .collect();
        for path in declared {
            let name = path
                .trim_start_matches(zb_abi::view::VIEW_DIR)
                .trim_end_matches(".view");
            let result = (|| {
                let text = self
                    .programs_get(path)
                    .and_then(|t| core::str::from_utf8(t).ok())
                    .ok_or_else(|| String::from("not UTF-8 text"))?;
                let spec = zb_abi::view::ViewSpec::parse(text)
                    .map_err(|line| format!("cannot read {line:?}"))?;
                if !spec.on(platform) {
                    return Ok(String::new());
                }
                let wasm = self
                    .programs_get(&format!("/bin/{}", spec.program))
                    .ok_or_else(|| format!("no program /bin/{}", spec.program))?;
                let bus = self
                    .bus
                    .as_mut()
                    .ok_or_else(|| String::from("there is no journal"))?;
                bus.add_view(name, spec.pattern, wasm, limits, shared.clone())
            })();
            match result {
                Ok(line) if line.is_empty() => {}
                Ok(line) => lines.push(line),
                Err(why) => lines.push(format!("view {name}: not loaded: {why}")),
            }
        }
        // Built from its snapshot and the journal; on a small heap, out until it is asked.
        self.release_views();
        lines
    }

    /// `timer`: sets or cancels a timer.
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
        let now = self.shared.clock.now_us();
        let bus = self.bus.as_mut().ok_or(plain(Error::Unsupported))?;
        bus.set_timer(&spec, now)
            .map_err(|why| (Error::InvalidArgument, why))?;
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

    /// Commits queued events when no run is ready (or a batch is full) and wakes emitters and
    /// subscribers; true if it committed anything.
    pub(crate) fn commit_events(&mut self, force: bool) -> bool {
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        let now = self.shared.clock.now_us();
        // Timers that are due: their events join the next commit, their programs start.
        for program in bus.fire_timers(now) {
            let _ = self.spawn(1, &program, Vec::new(), Vec::new());
        }
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        // Durable subscribers with a redelivery due: wake them to read it.
        for (pid, sub) in bus.due(now) {
            if self.waits_for(pid, &WaitReason::Event { sub }) {
                self.wake(pid);
            }
        }
        let Some(bus) = self.bus.as_mut() else {
            return false;
        };
        let (pending, full) = bus.has_pending();
        if !pending || !(force || full) {
            return false;
        }
        // Everything queued goes in now, in as many commits as its size needs.
        while let Some(bus) = self.bus.as_mut()
            && bus.has_pending().0
        {
            let done = bus.commit(now);
            let progress = done.committed;
            for pid in done.emitters {
                if self.waits_for(pid, &WaitReason::Commit) {
                    self.wake(pid);
                }
            }
            for (pid, sub) in done.subscribers {
                if self.waits_for(pid, &WaitReason::Event { sub }) {
                    self.wake(pid);
                }
            }
            for (service, watch) in done.watches {
                self.events
                    .push_back(crate::kernel::Event::Committed { service, watch });
            }
            if !progress {
                break;
            }
        }
        true
    }

    /// Commits every queued event now (before the machine stops or restarts).
    pub(crate) fn flush_events(&mut self) {
        self.commit_events(true);
    }

    /// Native service `service` watches for committed events matching `pattern`
    /// ([`crate::bus::EventBus::watch`]).
    pub(crate) fn watch_events(&mut self, service: Pid, pattern: &str) -> Result<u32, Error> {
        let watched = self
            .bus
            .as_mut()
            .ok_or(Error::Unsupported)?
            .watch(service, pattern);
        watched.map_err(|(e, why)| {
            self.log(&format!("event watch refused: {why}"));
            e
        })
    }

    /// The bus's counters (`None` without a journal).
    pub fn bus_stats(&self) -> Option<crate::bus::BusStats> {
        self.bus.as_ref().map(crate::bus::EventBus::stats)
    }

    /// Whether run `pid` is in WAIT for `reason`.
    fn waits_for(&self, pid: Pid, reason: &WaitReason) -> bool {
        self.runs.get(pid).is_some_and(
            |r| matches!(&r.state, crate::run::RunState::Wait(w) if w.reason() == reason),
        )
    }
}
