//! The event bus: [`emit`] an event into the durable journal, [`Subscription`]s that read the
//! events matching a subject pattern, and [`last_error`] for the reason behind a refusal.
//!
//! Subjects are dot-separated tokens (`ledger.transfer.requested`); patterns may use `*` (one
//! token) and `>` (the rest). Payloads are JSON text, checked by the kernel. See
//! [`zb_abi::bus`] for headers, options and the delivered event's layout ([`EventView`]).

pub use zb_abi::bus::{EMIT_DUPLICATE, EMIT_NOT_DURABLE, EventView};

use crate::{Error, decode, len32, ptr32, sys};

/// What [`emit`] gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitted {
    /// The event's sequence number in the journal.
    pub seq: u64,
    /// The `idempotency_key` header was seen before: nothing was appended, and `seq` is the
    /// first event's.
    pub duplicate: bool,
    /// The journal is in RAM (no medium, or it failed at boot): appended, but lost at the next
    /// reboot.
    pub not_durable: bool,
}

/// Appends an event to the journal; returns once it is durable (or, with no durable journal,
/// appended: [`Emitted::not_durable`]). `headers` are `key=value`
/// lines (`idempotency_key`, `correlation_id`, `causation_id`, `tenant`, `version`, or your
/// own).
pub fn emit(subject: &str, payload: &str, headers: &str) -> Result<Emitted, Error> {
    let (sl, pl, hl) = (
        len32(subject.len())?,
        len32(payload.len())?,
        len32(headers.len())?,
    );
    // SAFETY: the kernel reads the three ranges, which we borrow for the call.
    let v = decode(unsafe {
        sys::emit(
            ptr32(subject.as_ptr()),
            sl,
            ptr32(payload.as_ptr()),
            pl,
            ptr32(headers.as_ptr()),
            hl,
        )
    })?;
    Ok(Emitted {
        seq: v & !((EMIT_DUPLICATE | EMIT_NOT_DURABLE) as u64),
        duplicate: v & (EMIT_DUPLICATE as u64) != 0,
        not_durable: v & (EMIT_NOT_DURABLE as u64) != 0,
    })
}

/// Copies the reason for this run's last refused call into `buf` (empty if the kernel had
/// nothing more to say than the error code).
pub fn last_error(buf: &mut [u8]) -> &str {
    let cap = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the kernel writes at most `cap` bytes into `buf`, which we borrow mutably.
    let n = unsafe { sys::last_error(ptr32(buf.as_mut_ptr()), cap) };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    core::str::from_utf8(buf.get(..n).unwrap_or(&[])).unwrap_or("")
}

/// Asks view `view` about `key`; its answer (JSON text) goes into `out`.
pub fn scan<'o>(view: &str, key: &str, out: &'o mut [u8]) -> Result<&'o str, Error> {
    let (vl, kl, cap) = (len32(view.len())?, len32(key.len())?, len32(out.len())?);
    // SAFETY: the kernel reads the two borrowed ranges and writes at most `cap` bytes into
    // `out`, which we borrow mutably.
    let n = decode(unsafe {
        sys::scan(
            ptr32(view.as_ptr()),
            vl,
            ptr32(key.as_ptr()),
            kl,
            ptr32(out.as_mut_ptr()),
            cap,
        )
    })?;
    let answer = out.get(..n as usize).ok_or(Error::Corrupt)?;
    core::str::from_utf8(answer).map_err(|_| Error::Corrupt)
}

/// Snapshots view `view` at its current height (returned).
pub fn seal(view: &str) -> Result<u64, Error> {
    let vl = len32(view.len())?;
    // SAFETY: the kernel reads `vl` bytes at `view`, which we borrow.
    decode(unsafe { sys::seal(ptr32(view.as_ptr()), vl) })
}

/// Sets (or cancels) a timer: `spec` is `<name> every|after <duration>`, `<name> cron <5
/// fields>`, optionally `run <program>`, or `<name> off` ([`zb_abi::bus::TimerSpec`]). Each
/// firing is a `timer.<name>` event.
pub fn timer(spec: &str) -> Result<(), Error> {
    let len = len32(spec.len())?;
    // SAFETY: the kernel reads `len` bytes at `spec`, which we borrow.
    decode(unsafe { sys::timer(ptr32(spec.as_ptr()), len) }).map(|_| ())
}

/// Forgets durable consumer `name` (its position; the journal no longer keeps events for
/// it). `Busy` while something subscribes with it, `NotFound` if there is none.
pub fn delete_consumer(name: &str) -> Result<(), Error> {
    // The `subscribe` call with `delete=1`: the options text is built in a small buffer.
    let mut opts = [0u8; 96];
    let parts: [&[u8]; 3] = [b"durable=", name.as_bytes(), b"\ndelete=1"];
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        opts.get_mut(len..end)
            .ok_or(Error::TooLarge)?
            .copy_from_slice(part);
        len = end;
    }
    let options = core::str::from_utf8(&opts[..len]).map_err(|_| Error::InvalidArgument)?;
    subscribe(">", options).map(|_| ())
}

/// The `subscribe` call: a handle, or 0 for a `delete=1` that needs none.
fn subscribe(pattern: &str, options: &str) -> Result<u64, Error> {
    let (pl, ol) = (len32(pattern.len())?, len32(options.len())?);
    // SAFETY: the kernel reads both ranges, which we borrow for the call.
    decode(unsafe { sys::subscribe(ptr32(pattern.as_ptr()), pl, ptr32(options.as_ptr()), ol) })
}

/// A subscription to a subject pattern. Ended when dropped.
#[derive(Debug)]
pub struct Subscription {
    handle: i32,
}

impl Subscription {
    /// Subscribes to `pattern` with `options` (`key=value` lines: `queue=`, `from=N|all|new`).
    pub fn new(pattern: &str, options: &str) -> Result<Subscription, Error> {
        let h = subscribe(pattern, options)?;
        Ok(Subscription {
            handle: h as u32 as i32,
        })
    }

    /// Waits for the next event and decodes it from `buf`.
    pub fn next<'b>(&mut self, buf: &'b mut [u8]) -> Result<EventView<'b>, Error> {
        self.next_with(buf, 0)
    }

    /// The next event if there is one now; `WouldBlock` if not.
    pub fn try_next<'b>(&mut self, buf: &'b mut [u8]) -> Result<EventView<'b>, Error> {
        self.next_with(buf, zb_abi::syscall::NONBLOCK)
    }

    fn next_with<'b>(&mut self, buf: &'b mut [u8], flags: i32) -> Result<EventView<'b>, Error> {
        let cap = len32(buf.len())?;
        // SAFETY: the kernel writes at most `cap` bytes into `buf`, which we borrow mutably.
        let n = decode(unsafe { sys::next(self.handle, ptr32(buf.as_mut_ptr()), cap, flags) })?;
        let event = buf.get(..n as usize).ok_or(Error::Corrupt)?;
        EventView::decode(event)
    }

    /// A durable subscription's event `seq` is done (`ok`) or failed (redelivered later).
    pub fn ack(&mut self, seq: u64, ok: bool) -> Result<(), Error> {
        let seq = i64::try_from(seq).map_err(|_| Error::InvalidArgument)?;
        decode(sys::ack(self.handle, seq, i32::from(!ok))).map(|_| ())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        sys::close(self.handle);
    }
}
