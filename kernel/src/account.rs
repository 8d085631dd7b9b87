//! Kernel memory accounting: what the kernel holds on a run's behalf is charged to the run.
//!
//! Every run has an [`Account`] with a quota (its kernel-memory limit, `run --kmem`). A kernel
//! allocation made for the run — its output waiting for the console, a message it sent that is
//! not yet received, a request waiting for a service, its recording — takes a [`Charge`]
//! against that account before it is made, and the charge travels with the allocation: when
//! the allocation is dropped, wherever and whenever (received, delivered, the channel freed,
//! the run ended), the charge is given back. So a run can never hold more kernel memory than
//! its quota, and nothing it was charged for outlives what it paid for.
//!
//! What loading the run took — its instance, and its program's compiled code when it was
//! compiled for this run — is charged too ([`Account::hold_loaded`]), and added to the quota:
//! the quota a run is given (`run --kmem`) is its *allowance*, what its calls may make the
//! kernel hold on top of what it needs to exist, which admission already found room for.
//!
//! A charge is also refused when the kernel heap itself could not take it (the platform's
//! heap probe), so one run's allocation never has to fail inside the kernel: the run's call
//! fails with `OutOfMemory` and the reason, instead.
//!
//! Invariants: `used` is the sum of the live charges (each gives back exactly what it took);
//! `output` is the part of it that is output not yet handed to the console.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

use zb_abi::Error;
use zb_abi::fmt::Bytes;

/// Heap bytes the kernel keeps free beyond any charge (so its own next allocations succeed).
const HEAP_MARGIN: usize = 4 * 1024;

/// One run's kernel memory: what it is charged and may be.
pub struct Account {
    used: Cell<usize>,
    output: Cell<usize>,
    peak: Cell<usize>,
    /// The allowance plus what loading the run took (`loaded`).
    quota: Cell<usize>,
    /// Bytes its load took ([`Account::hold_loaded`]).
    loaded: Cell<usize>,
    /// The kernel heap's free bytes, when the platform can tell.
    heap_free: Option<&'static dyn Fn() -> usize>,
}

impl core::fmt::Debug for Account {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Account")
            .field("used", &self.used.get())
            .field("quota", &self.quota.get())
            .finish()
    }
}

/// Why a charge was refused, for the run's `last_error`.
pub type Refused = (Error, String);

impl Account {
    pub fn new(quota: usize, heap_free: Option<&'static dyn Fn() -> usize>) -> Rc<Account> {
        Rc::new(Account {
            used: Cell::new(0),
            output: Cell::new(0),
            peak: Cell::new(0),
            quota: Cell::new(quota),
            loaded: Cell::new(0),
            heap_free,
        })
    }

    /// An account without a limit (native services, tests).
    pub fn unlimited() -> Rc<Account> {
        Account::new(usize::MAX, None)
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// The most bytes ever charged at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }

    /// The most bytes that may be charged: the allowance plus what the load took.
    pub fn quota(&self) -> usize {
        self.quota.get()
    }

    /// What loading the run took (its instance, and its code if compiled for it).
    pub fn loaded(&self) -> usize {
        self.loaded.get()
    }

    /// Charges `bytes` its load took — already allocated, so not checked against the heap —
    /// and adds them to the quota, so the allowance is left whole for its calls.
    pub fn hold_loaded(self: &Rc<Self>, bytes: usize) -> Charge {
        self.quota.set(self.quota.get().saturating_add(bytes));
        self.loaded.set(self.loaded.get() + bytes);
        self.record(bytes, false)
    }

    /// Output bytes not yet handed to the console.
    pub fn output(&self) -> usize {
        self.output.get()
    }

    /// Bytes that can still be charged.
    pub fn room(&self) -> usize {
        self.quota.get().saturating_sub(self.used.get())
    }

    /// Charges `bytes` (`output`: they are output for the console).
    fn take(self: &Rc<Self>, bytes: usize, output: bool) -> Result<Charge, Refused> {
        if bytes > self.room() {
            return Err((
                Error::OutOfMemory,
                format!(
                    "kernel memory quota reached: {} of {} in use, {} more asked",
                    Bytes(self.used() as u64),
                    Bytes(self.quota.get() as u64),
                    Bytes(bytes as u64)
                ),
            ));
        }
        if let Some(free) = self.heap_free
            && free() < bytes.saturating_add(HEAP_MARGIN)
        {
            return Err((
                Error::OutOfMemory,
                format!(
                    "the kernel heap cannot take {} more now",
                    Bytes(bytes as u64)
                ),
            ));
        }
        Ok(self.record(bytes, output))
    }

    /// Counts `bytes` as charged (checked already, or not to be checked); their charge.
    fn record(self: &Rc<Self>, bytes: usize, output: bool) -> Charge {
        self.used.set(self.used.get() + bytes);
        self.peak.set(self.peak.get().max(self.used.get()));
        if output {
            self.output.set(self.output.get() + bytes);
        }
        Charge {
            account: Some(self.clone()),
            bytes,
            output,
        }
    }

    /// Charges `bytes` the kernel is about to hold for the run.
    pub fn charge(self: &Rc<Self>, bytes: usize) -> Result<Charge, Refused> {
        self.take(bytes, false)
    }

    /// Charges `bytes` of output for the console.
    pub fn charge_output(self: &Rc<Self>, bytes: usize) -> Result<Charge, Refused> {
        self.take(bytes, true)
    }
}

/// Bytes charged to an account, given back when dropped.
#[derive(Debug, Default)]
pub struct Charge {
    account: Option<Rc<Account>>,
    bytes: usize,
    output: bool,
}

impl Charge {
    /// Nothing charged (kernel-made objects, tests).
    pub fn none() -> Charge {
        Charge::default()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes `more` (of the same account, or of none) into this charge: one charge for a
    /// thing that grows.
    pub fn absorb(&mut self, mut more: Charge) {
        if let Some(account) = more.account.take() {
            self.account.get_or_insert(account);
        }
        self.bytes += core::mem::take(&mut more.bytes);
    }
}

impl PartialEq for Charge {
    /// Charges are bookkeeping: two messages are equal whatever they were charged.
    fn eq(&self, _: &Charge) -> bool {
        true
    }
}

impl Eq for Charge {}

impl Clone for Charge {
    /// A copy of a charged thing is not charged (only the original gives back).
    fn clone(&self) -> Charge {
        Charge::none()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(a) = self.account.take() {
            a.used.set(a.used.get().saturating_sub(self.bytes));
            if self.output {
                a.output.set(a.output.get().saturating_sub(self.bytes));
            }
        }
    }
}

/// A copy of `bytes` in a new buffer, or `OutOfMemory` if the heap cannot give one: the one
/// way run-supplied data enters the kernel heap, so a large request can fail, never abort.
pub fn try_copy(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(bytes.len())
        .map_err(|_| Error::OutOfMemory)?;
    buffer.extend_from_slice(bytes);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_given_back_when_dropped() {
        let a = Account::new(100, None);
        let c1 = a.charge(60).unwrap();
        let c2 = a.charge_output(40).unwrap();
        assert_eq!((a.used(), a.output(), a.room()), (100, 40, 0));
        let (e, why) = a.charge(1).unwrap_err();
        assert_eq!(e, Error::OutOfMemory);
        assert!(why.contains("quota"), "{why}");
        drop(c2);
        assert_eq!((a.used(), a.output()), (60, 0));
        drop(c1);
        assert_eq!((a.used(), a.peak()), (0, 100));
        assert!(a.charge(100).is_ok());
    }

    #[test]
    fn a_charge_the_heap_cannot_take_is_refused() {
        static FREE: fn() -> usize = || 10_000;
        let a = Account::new(1 << 20, Some(&FREE));
        assert!(a.charge(5_000).is_ok());
        let (e, why) = a.charge(8_000).unwrap_err();
        assert_eq!(e, Error::OutOfMemory);
        assert!(why.contains("heap"), "{why}");
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn charges_outlive_their_account_holder() {
        let a = Account::new(100, None);
        let c = a.charge(50).unwrap();
        let weak = Rc::downgrade(&a);
        drop(a);
        assert!(weak.upgrade().is_some(), "the charge keeps the account");
        drop(c);
        assert!(weak.upgrade().is_none());
    }
}
