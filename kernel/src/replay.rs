//! Recording a run's nondeterministic inputs, and replaying the run from them.
//!
//! A run's only inputs are the results of its HOST calls (and whether its `memory.grow`s
//! succeeded, which depends on the kernel heap): the interpreter is deterministic. So the
//! [`Recorder`] writes, for every call, its number, a check of what the run handed over
//! (arguments and the memory the call reads), its result and the memory it wrote
//! (`zb_abi::syscall::effects` says which spans); and for every growth, the decision. That
//! [`Tape`] is all a replay needs: the [`Replayer`] runs the same code, answers every call from
//! the tape instead of the kernel — nothing is written, emitted, sent or spawned — and stops at
//! the first call that differs from the recording.
//!
//! Both sides fold what the run handed over into a 64-bit FNV-1a hash: the hash of the run's
//! outputs. A replay that ends as the original did, after the same calls, is `identical` with
//! that hash.
//!
//! Invariants: recording never changes what a run sees; a tape that outgrows its limit is
//! dropped (the run goes on unrecorded); a replay never reaches the kernel's services, and a
//! corrupt or foreign tape is a divergence, never a panic.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use zb_abi::Pid;
use zb_abi::syscall::{checked_range, effects, name_of};

use crate::account::{Account, Charge};
use crate::run::ExitStatus;

/// Tape entry: a host call.
const CALL: u8 = 1;
/// Tape entry: a memory or table growth decision.
const GROW: u8 = 2;

/// What a run's store does with its calls: nothing, record them, or answer them from a tape.
pub enum Tape {
    Off,
    Record(Recorder),
    Replay(Replayer),
}

/// A growth decision as the resource limiter made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    Allowed,
    /// The grow instruction returns -1.
    Refused,
    /// Over the run's limit: the run traps.
    Trapped,
}

impl Growth {
    fn code(self) -> u8 {
        match self {
            Growth::Allowed => 0,
            Growth::Refused => 1,
            Growth::Trapped => 2,
        }
    }

    fn from_code(code: u8) -> Option<Growth> {
        Some(match code {
            0 => Growth::Allowed,
            1 => Growth::Refused,
            2 => Growth::Trapped,
            _ => return None,
        })
    }
}

/// A 64-bit digest of what a run hands over, eight bytes at a step (FxHash's rotate, xor and
/// multiply; the tail a byte at a step): small, no tables, good enough to tell runs apart (not
/// a security hash). Every call's read spans go through it, so it is on the channel round
/// trip's path: a byte-at-a-time hash (FNV-1a, used before) took a sixth of the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        let (words, tail) = bytes.as_chunks::<8>();
        for &w in words {
            self.word(u64::from_le_bytes(w));
        }
        for &b in tail {
            self.word(u64::from(b));
        }
        // The length too: a tail of zero bytes is not the same as no tail.
        self.word(bytes.len() as u64);
    }

    pub fn value(self) -> u64 {
        self.0
    }
}

/// What call `number` hands over: its number, arguments and the bytes of its read spans (a
/// span outside memory counts as empty: the call failed on it).
fn handed_over(mem: &[u8], number: u32, args: &[i64; 6]) -> Digest {
    let mut h = Digest::default();
    h.bytes(&number.to_le_bytes());
    for a in args {
        h.bytes(&a.to_le_bytes());
    }
    for (ptr, len) in effects(number, args, 0).reads {
        if let Ok(r) = checked_range(ptr, len, mem.len(), usize::MAX) {
            h.bytes(&mem[r]);
        }
    }
    h
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Reads a tape front to back; every read is checked (a bad tape is a divergence).
struct Reader<'t> {
    tape: &'t [u8],
    at: usize,
}

impl<'t> Reader<'t> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.tape.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&'t [u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.tape.get(self.at..end)?;
        self.at = end;
        Some(b)
    }
}

/// Records one run's calls as it makes them.
pub struct Recorder {
    tape: Vec<u8>,
    /// Most bytes the tape may take; past it (or when the run's kernel-memory quota or the
    /// heap cannot take more) the tape is dropped and the run is not replayable.
    limit: usize,
    overflowed: bool,
    outputs: Digest,
    calls: u32,
    /// The call the run is in (made, not yet answered): its number and arguments.
    open: Option<(u32, [i64; 6])>,
    /// Where the latest growth decision starts on the tape.
    last_grow: Option<usize>,
    /// The run's account, and what the tape is charged to it.
    account: Option<Rc<Account>>,
    charge: Charge,
}

impl Recorder {
    /// A recorder whose tape may take `limit` bytes, charged to `account` (if any) as it
    /// grows.
    pub fn new(limit: usize, account: Option<Rc<Account>>) -> Recorder {
        Recorder {
            tape: Vec::new(),
            limit,
            overflowed: false,
            outputs: Digest::default(),
            calls: 0,
            open: None,
            last_grow: None,
            account,
            charge: Charge::none(),
        }
    }

    /// The run makes call `number` (`mem` as it is now: what the call will read).
    pub fn begin(&mut self, mem: &[u8], number: u32, args: &[i64; 6]) {
        let check = handed_over(mem, number, args).value();
        self.outputs.bytes(&check.to_le_bytes());
        if self.room(16) {
            self.tape.push(CALL);
            put_varint(&mut self.tape, u64::from(number));
            self.tape.extend_from_slice(&(check as u32).to_le_bytes());
        }
        self.open = Some((number, *args));
    }

    /// The call made last returned `result`, having written into `mem`.
    pub fn end(&mut self, mem: &[u8], result: i64) {
        let Some((number, args)) = self.open.take() else {
            return;
        };
        self.calls += 1;
        if self.overflowed {
            return;
        }
        let writes = effects(number, &args, result).writes;
        let span = |&(ptr, len): &(i64, i64)| {
            checked_range(ptr, len, mem.len(), usize::MAX).map_or(&[][..], |r| &mem[r])
        };
        let bytes: usize = writes.iter().map(|w| span(w).len()).sum();
        if !self.room(bytes + 30) {
            return;
        }
        put_varint(&mut self.tape, zigzag(result));
        for w in &writes {
            let data = span(w);
            put_varint(&mut self.tape, data.len() as u64);
            self.tape.extend_from_slice(data);
        }
    }

    /// The run's memory or a table asked to grow, and the limiter decided `growth`.
    pub fn grow(&mut self, growth: Growth) {
        if self.room(2) {
            self.last_grow = Some(self.tape.len());
            self.tape.push(GROW);
            self.tape.push(growth.code());
        }
    }

    /// The growth decided last did not happen after all: for want of fuel (`retried`: the
    /// instruction runs again when the run is resumed, and asks again), or because the
    /// memory could not be allocated (the run saw it refused).
    pub fn grow_failed(&mut self, retried: bool) {
        let Some(at) = self.last_grow.take() else {
            return;
        };
        if self.overflowed {
            return;
        }
        if retried {
            self.tape.truncate(at);
        } else if let Some(code) = self.tape.get_mut(at + 1) {
            *code = Growth::Refused.code();
        }
    }

    /// Whether `bytes` more fit on the tape (at most; encodings are shorter): makes room for
    /// them, or drops the tape for good. The tape grows by half its size at a time, not by
    /// doubling, so a small heap is not asked for twice the limit.
    #[inline]
    fn room(&mut self, bytes: usize) -> bool {
        let need = self.tape.len() + bytes;
        // Most calls: room enough already (nothing to charge).
        !self.overflowed && need <= self.tape.capacity().min(self.limit) || self.grow_tape(bytes)
    }

    /// [`Recorder::room`]'s slow path: the tape grows, or is dropped.
    #[cold]
    fn grow_tape(&mut self, bytes: usize) -> bool {
        if self.overflowed {
            return false;
        }
        let need = self.tape.len() + bytes;
        let mut fits = need <= self.limit;
        if fits && need > self.tape.capacity() {
            let step = (self.tape.len() / 2).max(64).max(bytes);
            let target = (self.tape.len() + step).min(self.limit);
            let more = target - self.tape.capacity().min(target);
            // Charged to the run; a quota or a heap too full for the tape costs the run its
            // replay, never the kernel or the run itself.
            let charge = match &self.account {
                Some(account) => account.charge(more).ok(),
                None => Some(Charge::none()),
            };
            fits = match charge {
                Some(charge)
                    if self
                        .tape
                        .try_reserve_exact(target - self.tape.len())
                        .is_ok() =>
                {
                    self.charge.absorb(charge);
                    true
                }
                _ => false,
            };
        }
        if !fits {
            self.overflowed = true;
            self.tape = Vec::new();
            self.charge = Charge::none();
        }
        fits
    }

    /// The finished recording, of a run that ended so.
    pub fn finish(self, ending: Ending) -> Recording {
        let mut outputs = self.outputs;
        if ending.own {
            outputs.bytes(ending.status.as_bytes());
        }
        Recording {
            tape: (!self.overflowed).then(|| {
                let mut tape = self.tape;
                tape.shrink_to_fit();
                tape
            }),
            calls: self.calls,
            outputs: outputs.value(),
            ending,
        }
    }
}

/// How and where a recorded run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub pid: Pid,
    /// The program (`/bin/<name>`) and its code: the code is the boot archive's, so it is
    /// exactly what ran.
    pub path: &'static str,
    pub wasm: &'static [u8],
    pub memory_bytes: usize,
    pub fuel: u64,
    /// How it ended, as `ps` shows it (`ok(0)`, `rejected: killed`).
    pub status: String,
    /// It ended by itself (returned, exited, trapped); not killed.
    pub own: bool,
}

impl Ending {
    /// The program's name.
    pub fn name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
}

/// A finished run's tape and what it came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// `None`: the tape outgrew its limit and was dropped.
    pub tape: Option<Vec<u8>>,
    pub calls: u32,
    /// The hash of everything the run handed over, and of its status if it ended by itself.
    pub outputs: u64,
    pub ending: Ending,
}

/// One kept recording: everything but its status text and tape, which are in
/// [`Recordings::bytes`] in the same order.
#[derive(Clone, Copy)]
struct Kept {
    pid: Pid,
    path: &'static str,
    wasm: &'static [u8],
    memory_bytes: usize,
    fuel: u64,
    own: bool,
    calls: u32,
    outputs: u64,
    status_len: usize,
    tape_len: Option<usize>,
}

impl Kept {
    fn size(&self) -> usize {
        self.status_len + self.tape_len.unwrap_or(0)
    }
}

/// The latest finished runs' recordings, oldest first, in memory taken once at boot: the
/// kernel heap of a small board must not be dotted with recordings between the big blocks
/// that runs' memories need.
pub struct Recordings {
    kept: VecDeque<Kept>,
    /// Each kept recording's status text, then its tape.
    bytes: Vec<u8>,
}

/// How many recordings are kept at most (as many as finished runs in the run table).
const KEEP: usize = crate::config::KEEP_DONE;

impl Recordings {
    /// Room for `limit` bytes of recordings (0: none are kept).
    pub fn new(limit: usize) -> Recordings {
        Recordings {
            kept: VecDeque::with_capacity(if limit == 0 { 0 } else { KEEP }),
            bytes: Vec::with_capacity(limit),
        }
    }

    /// Keeps `recording`, dropping the oldest to make room; one that cannot fit at all is
    /// kept without its tape (replay then says it was too long).
    pub fn add(&mut self, recording: Recording) {
        let limit = self.bytes.capacity();
        if limit == 0 {
            return;
        }
        let status = recording.ending.status.as_bytes();
        let status = &status[..status.len().min(limit / 4)];
        let mut tape = recording.tape.as_deref();
        if tape.is_some_and(|t| status.len() + t.len() > limit) {
            tape = None;
        }
        let entry = Kept {
            pid: recording.ending.pid,
            path: recording.ending.path,
            wasm: recording.ending.wasm,
            memory_bytes: recording.ending.memory_bytes,
            fuel: recording.ending.fuel,
            own: recording.ending.own,
            calls: recording.calls,
            outputs: recording.outputs,
            status_len: status.len(),
            tape_len: tape.map(<[u8]>::len),
        };
        let mut drop_bytes = 0;
        while self.kept.len() >= KEEP || self.bytes.len() - drop_bytes + entry.size() > limit {
            match self.kept.pop_front() {
                Some(old) => drop_bytes += old.size(),
                None => break,
            }
        }
        self.bytes.drain(..drop_bytes);
        self.bytes.extend_from_slice(status);
        self.bytes.extend_from_slice(tape.unwrap_or(&[]));
        self.kept.push_back(entry);
    }

    /// A copy of run `pid`'s recording.
    pub fn get(&self, pid: Pid) -> Option<Recording> {
        let mut at = 0;
        for k in &self.kept {
            if k.pid != pid {
                at += k.size();
                continue;
            }
            let status = &self.bytes[at..at + k.status_len];
            let tape_at = at + k.status_len;
            let tape = k
                .tape_len
                .map(|n| self.bytes[tape_at..tape_at + n].to_vec());
            return Some(Recording {
                tape,
                calls: k.calls,
                outputs: k.outputs,
                ending: Ending {
                    pid,
                    path: k.path,
                    wasm: k.wasm,
                    memory_bytes: k.memory_bytes,
                    fuel: k.fuel,
                    status: String::from_utf8_lossy(status).into_owned(),
                    own: k.own,
                },
            });
        }
        None
    }

    /// Changes run `pid`'s recording (tests: a tampered tape, other code).
    #[cfg(test)]
    pub(crate) fn edit(&mut self, pid: Pid, f: impl FnOnce(&mut Recording)) {
        let mut r = self.get(pid).expect("recorded");
        f(&mut r);
        let mut others = Vec::new();
        while let Some(k) = self.kept.front().map(|k| k.pid) {
            let rec = self.get(k).expect("kept");
            self.kept.pop_front();
            others.push(rec);
        }
        self.bytes.clear();
        for o in others {
            self.add(if o.ending.pid == pid { r.clone() } else { o });
        }
    }
}

#[cfg(test)]
impl Recording {
    /// The tape's entries: `(tag, number or growth, result)`, with where each result starts
    /// and ends.
    fn entries(&self) -> Vec<(u8, u64, i64, core::ops::Range<usize>)> {
        let tape = self.tape.as_deref().unwrap_or(&[]);
        let mut r = Reader { tape, at: 0 };
        let mut out = Vec::new();
        while let Some(tag) = r.byte() {
            if tag == GROW {
                let code = r.byte().expect("growth");
                out.push((GROW, u64::from(code), 0, r.at..r.at));
                continue;
            }
            let number = r.varint().expect("number");
            r.bytes(4).expect("check");
            let start = r.at;
            let Some(result) = r.varint() else {
                out.push((CALL, number, 0, start..start));
                break;
            };
            let span = start..r.at;
            for _ in 0..2 {
                let n = r.varint().expect("length") as usize;
                r.bytes(n).expect("data");
            }
            out.push((CALL, number, unzigzag(result), span));
        }
        out
    }

    /// The call numbers on the tape, in order (growths as `u32::MAX`).
    pub(crate) fn calls_made(&self) -> Vec<u32> {
        let entries = self.entries().into_iter();
        entries
            .map(|(tag, n, ..)| if tag == GROW { u32::MAX } else { n as u32 })
            .collect()
    }

    /// Makes call `index` (0-based, growths not counted) return `result` instead.
    pub(crate) fn set_result(&mut self, index: usize, result: i64) {
        let entries = self.entries();
        let mut calls = entries.iter().filter(|e| e.0 == CALL);
        let span = calls.nth(index).expect("such a call").3.clone();
        let mut encoded = Vec::new();
        put_varint(&mut encoded, zigzag(result));
        let tape = self.tape.as_mut().expect("a tape");
        tape.splice(span, encoded);
    }
}

/// Where a replay stands when it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Divergence {
    /// Call `at` (1-based) is not the recorded one.
    Call { at: u32, detail: String },
    /// The replay went past where the recording ends.
    PastEnd { at: u32, detail: String },
}

/// The host error a replay stops with (the verdict is in the [`Replayer`]).
#[derive(Debug)]
pub struct Stop;

impl core::fmt::Display for Stop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("replay stopped")
    }
}

impl wasmi::errors::HostError for Stop {}

/// Answers a replayed run's calls from a recording.
pub struct Replayer {
    recording: Rc<Recording>,
    at: usize,
    calls: u32,
    outputs: Digest,
    /// Set at the first difference; the replay stops there.
    pub diverged: Option<Divergence>,
    /// The replay reached the end of the tape of a run that was killed there.
    pub reached_kill: bool,
    /// The kernel stopped the replay for using more fuel than it should.
    fuel_spent: bool,
    /// Where the growth answered last starts on the tape.
    last_grow: Option<usize>,
}

impl Replayer {
    /// A replay of `recording` (which must have a tape).
    pub fn new(recording: Recording) -> Replayer {
        Replayer {
            recording: Rc::new(recording),
            at: 0,
            calls: 0,
            outputs: Digest::default(),
            diverged: None,
            reached_kill: false,
            fuel_spent: false,
            last_grow: None,
        }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    fn tape(&self) -> &[u8] {
        self.recording.tape.as_deref().unwrap_or(&[])
    }

    /// Fuel past which the replay is stopped: the recorded run's, with room to spare for a
    /// run that ended by itself (a replay using more has diverged), exactly that for one that
    /// was killed (the replay has then gone as far as the original).
    pub fn fuel_limit(&self, slice: u64) -> u64 {
        let fuel = self.recording.ending.fuel;
        if self.recording.ending.own {
            fuel.saturating_mul(2).saturating_add(slice)
        } else {
            fuel
        }
    }

    /// The recording's end: a killed original is replayed up to there.
    fn at_end(&mut self, what: &str) -> Stop {
        if self.recording.ending.own {
            self.diverged = Some(Divergence::PastEnd {
                at: self.calls + 1,
                detail: format!("the replay made {what}; the recorded run had ended"),
            });
        } else {
            self.reached_kill = true;
        }
        Stop
    }

    fn diverge(&mut self, detail: String) -> Stop {
        self.diverged = Some(Divergence::Call {
            at: self.calls + 1,
            detail,
        });
        Stop
    }

    /// The replayed run makes call `number`: checks it against the tape, writes what the
    /// original received into `mem`, and returns the original's result.
    pub fn call(&mut self, mem: &mut [u8], number: u32, args: &[i64; 6]) -> Result<i64, Stop> {
        let name = name_of(number);
        let check = handed_over(mem, number, args).value();
        let rec = Rc::clone(&self.recording);
        let mut r = Reader {
            tape: rec.tape.as_deref().unwrap_or(&[]),
            at: self.at,
        };
        let Some(tag) = r.byte() else {
            return Err(self.at_end(&format!("`{name}`")));
        };
        if tag == GROW {
            return Err(self.diverge(format!(
                "the recorded run grew its memory here; the replay made `{name}`"
            )));
        }
        let recorded = r.varint().filter(|_| tag == CALL);
        let Some(recorded) = recorded.and_then(|n| u32::try_from(n).ok()) else {
            return Err(self.diverge("the tape is corrupt".into()));
        };
        if recorded != number {
            return Err(self.diverge(format!(
                "the recorded run made `{}`; the replay made `{name}`",
                name_of(recorded)
            )));
        }
        let Some(sum) = r.bytes(4) else {
            return Err(self.at_end(&format!("`{name}`")));
        };
        if sum != (check as u32).to_le_bytes() {
            return Err(self.diverge(format!(
                "`{name}` with other arguments or data than recorded"
            )));
        }
        let Some(result) = r.varint().map(unzigzag) else {
            // Recorded as made but never answered: the original was killed in this call.
            self.outputs.bytes(&check.to_le_bytes());
            return Err(self.at_end(&format!("`{name}`")));
        };
        for (ptr, len) in effects(number, args, result).writes {
            let data = r.varint().and_then(|n| r.bytes(usize::try_from(n).ok()?));
            let Some(data) = data else {
                return Err(self.diverge("the tape is corrupt".into()));
            };
            let span = checked_range(ptr, len, mem.len(), usize::MAX);
            match span {
                Ok(s) if s.len() == data.len() => mem[s].copy_from_slice(data),
                _ => {
                    return Err(self.diverge(format!(
                        "`{name}` received {} bytes that do not fit where the replay expects them",
                        data.len()
                    )));
                }
            }
        }
        self.outputs.bytes(&check.to_le_bytes());
        self.at = r.at;
        self.calls += 1;
        Ok(result)
    }

    /// The replayed run asks to grow memory or a table: the recorded decision.
    pub fn grow(&mut self) -> Result<Growth, Stop> {
        let rec = Rc::clone(&self.recording);
        let mut r = Reader {
            tape: rec.tape.as_deref().unwrap_or(&[]),
            at: self.at,
        };
        let decision = match (r.byte(), r.byte()) {
            (Some(GROW), Some(code)) => Growth::from_code(code),
            (None, _) => return Err(self.at_end("a memory.grow")),
            _ => None,
        };
        let at = r.at;
        match decision {
            Some(d) => {
                self.last_grow = Some(self.at);
                self.at = at;
                Ok(d)
            }
            None => Err(self
                .diverge("the replay grew its memory; the recorded run made a call here".into())),
        }
    }

    /// The growth answered last is asked again (it lacked fuel): answer it again.
    pub fn grow_retried(&mut self) {
        if let Some(at) = self.last_grow.take() {
            self.at = at;
        }
    }

    /// The kernel stopped the replay at [`Replayer::fuel_limit`].
    pub fn out_of_fuel(&mut self) {
        self.fuel_spent = true;
    }

    /// The verdict once the replayed run has ended with `status` (`own`: by itself).
    pub fn verdict(&mut self, status: &ExitStatus, own: bool) -> Verdict {
        let rec = Rc::clone(&self.recording);
        let calls = self.calls;
        let whole_tape = self.at == self.tape().len();
        let stopped_original =
            || format!("replayed up to where it was stopped: {}", rec.ending.status);
        if let Some(d) = self.diverged.take() {
            return Verdict::Diverged(d);
        }
        if self.reached_kill || (self.fuel_spent && !rec.ending.own && whole_tape) {
            return Verdict::Identical {
                outputs: self.outputs.value(),
                calls,
                ending: stopped_original(),
            };
        }
        if !own && !self.fuel_spent {
            return Verdict::Stopped { calls };
        }
        let detail = if self.fuel_spent {
            format!(
                "the replay used more fuel than the recorded run ({}) without getting there",
                rec.ending.fuel
            )
        } else if !rec.ending.own {
            format!(
                "the replay ended ({status}); the recorded run was stopped ({})",
                rec.ending.status
            )
        } else if !whole_tape {
            format!(
                "the replay ended ({status}) after {calls} calls; the recorded run made {}",
                rec.calls
            )
        } else if status.to_string() != rec.ending.status {
            format!(
                "the replay ended {status}; the recorded run ended {}",
                rec.ending.status
            )
        } else {
            let mut outputs = self.outputs;
            outputs.bytes(status.to_string().as_bytes());
            return Verdict::Identical {
                outputs: outputs.value(),
                calls,
                ending: format!("ended {status}"),
            };
        };
        Verdict::Diverged(Divergence::PastEnd {
            at: calls + 1,
            detail,
        })
    }
}

/// What a replay proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Identical {
        outputs: u64,
        calls: u32,
        ending: String,
    },
    Diverged(Divergence),
    /// The replay itself was killed before it could tell.
    Stopped {
        calls: u32,
    },
}

impl core::fmt::Display for Verdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Verdict::Identical {
                outputs,
                calls,
                ending,
            } => write!(f, "identical {outputs:016x} ({calls} calls, {ending})"),
            Verdict::Diverged(Divergence::Call { at, detail })
            | Verdict::Diverged(Divergence::PastEnd { at, detail }) => {
                write!(f, "diverged at call {at}: {detail}")
            }
            Verdict::Stopped { calls } => write!(f, "stopped after {calls} calls, no verdict"),
        }
    }
}
