//! The table of open files: dense slots with generations, shared fairly between clients.
//!
//! Job: turn what a client opened into a `u32` remote handle and back, so that a handle that
//! was closed (or never issued) can never name another open file; and share the table so
//! that no client, and no crowd of runs, can take the system's room.
//!
//! A handle is `generation << 16 | (slot + 1)`. Every entry belongs to a client, which is
//! either part of the system (the shell and the services, [`Client::System`]) or a run
//! ([`Client::Run`]). Invariants:
//! - At most [`Shares::total`] entries are open; a system client holds at most
//!   [`Shares::per_system`], a run at most [`Shares::per_run`], and all runs together at most
//!   `total - reserve`, so [`Shares::reserve`] entries are always left for the system.
//!   Opening past a limit is `Busy` (a shared pool is in use; try again when something is
//!   closed), never a panic or an unbounded table.
//! - A slot's generation changes every time its entry is removed, so a stale handle misses
//!   (`get` and `remove` return `None`) even after the slot is reused; generations wrap after
//!   65536 reuses of one slot, and 0 is never issued (so handle 0 is never valid).

use alloc::vec::Vec;

use zb_abi::{Error, Pid};

/// Who opened an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The shell or a service (a native caller).
    System(Pid),
    /// A run.
    Run(Pid),
}

impl Client {
    fn pid(self) -> Pid {
        match self {
            Client::System(pid) | Client::Run(pid) => pid,
        }
    }
}

/// How the table is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    /// Entries in all (≤ 65535).
    pub total: usize,
    /// Most for one system client.
    pub per_system: usize,
    /// Most for one run.
    pub per_run: usize,
    /// Entries runs together can never take.
    pub reserve: usize,
}

struct Slot<T> {
    generation: u16,
    entry: Option<(Client, T)>,
}

/// Open entries of type `T`, each owned by a client.
pub struct Handles<T> {
    slots: Vec<Slot<T>>,
    shares: Shares,
}

impl<T> Handles<T> {
    pub fn new(shares: Shares) -> Self {
        Handles {
            slots: Vec::new(),
            shares: Shares {
                total: shares.total.min(u16::MAX as usize),
                ..shares
            },
        }
    }

    /// Whether `client` may open one more entry now: `Busy` if a share or the table is full.
    pub fn room_for(&self, client: Client) -> Result<(), Error> {
        let (mut mine, mut runs, mut open) = (0, 0, 0);
        for (owner, _) in self.slots.iter().filter_map(|s| s.entry.as_ref()) {
            open += 1;
            mine += usize::from(owner.pid() == client.pid());
            runs += usize::from(matches!(owner, Client::Run(_)));
        }
        let s = &self.shares;
        let fits = match client {
            Client::System(_) => mine < s.per_system,
            Client::Run(_) => mine < s.per_run && runs < s.total.saturating_sub(s.reserve),
        };
        if fits && open < s.total {
            Ok(())
        } else {
            Err(Error::Busy)
        }
    }

    /// Stores `entry` for `client` and returns its handle.
    pub fn insert(&mut self, client: Client, entry: T) -> Result<u32, Error> {
        self.room_for(client)?;
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(i) => i,
            None => {
                self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                self.slots.push(Slot {
                    generation: 1,
                    entry: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.entry = Some((client, entry));
        Ok(u32::from(slot.generation) << 16 | (index as u32 + 1))
    }

    fn index(&self, handle: u32) -> Option<usize> {
        let index = (handle & 0xFFFF).checked_sub(1)? as usize;
        let slot = self.slots.get(index)?;
        (slot.entry.is_some() && u32::from(slot.generation) == handle >> 16).then_some(index)
    }

    pub fn get(&mut self, handle: u32) -> Option<&mut T> {
        let index = self.index(handle)?;
        self.slots[index].entry.as_mut().map(|(_, e)| e)
    }

    /// Takes the entry out; the handle is dead from now on.
    pub fn remove(&mut self, handle: u32) -> Option<T> {
        let index = self.index(handle)?;
        let slot = &mut self.slots[index];
        slot.generation = match slot.generation.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        slot.entry.take().map(|(_, e)| e)
    }

    /// Number of open entries.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.entry.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn shares(total: usize, per_system: usize, per_run: usize, reserve: usize) -> Shares {
        Shares {
            total,
            per_system,
            per_run,
            reserve,
        }
    }

    #[test]
    fn stale_handles_miss() {
        let mut t = Handles::new(shares(2, 2, 2, 0));
        let a = t.insert(Client::Run(1), "a").unwrap();
        assert_ne!(a, 0);
        assert_eq!(t.get(a), Some(&mut "a"));
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.get(a), None);
        assert_eq!(t.remove(a), None);
        let b = t.insert(Client::Run(1), "b").unwrap();
        assert_ne!(a, b, "the reused slot has a new generation");
        assert_eq!(t.get(a), None);
        for junk in [0, 1, 0xFFFF, u32::MAX, b ^ 0x10000, b + 1] {
            assert_eq!(t.get(junk), None, "{junk:#x}");
        }
    }

    #[test]
    fn bounded() {
        let mut t = Handles::new(shares(3, 2, 2, 0));
        t.insert(Client::Run(1), ()).unwrap();
        t.insert(Client::Run(1), ()).unwrap();
        assert_eq!(t.insert(Client::Run(1), ()), Err(Error::Busy));
        let h = t.insert(Client::System(2), ()).unwrap();
        assert_eq!(t.insert(Client::System(3), ()), Err(Error::Busy));
        t.remove(h);
        t.insert(Client::System(3), ()).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn runs_share_what_the_system_does_not_reserve() {
        let mut t = Handles::new(shares(8, 8, 3, 3));
        for _ in 0..3 {
            t.insert(Client::Run(10), ()).unwrap();
        }
        assert_eq!(t.insert(Client::Run(10), ()), Err(Error::Busy), "its share");
        let last = t.insert(Client::Run(11), ()).unwrap();
        t.insert(Client::Run(11), ()).unwrap();
        // Five runs' entries: the other three are the system's.
        assert_eq!(
            t.insert(Client::Run(12), ()),
            Err(Error::Busy),
            "the reserve"
        );
        for _ in 0..3 {
            t.insert(Client::System(1), ()).unwrap();
        }
        assert_eq!(
            t.insert(Client::System(1), ()),
            Err(Error::Busy),
            "the table"
        );
        t.remove(last);
        t.insert(Client::Run(12), ()).unwrap();
    }

    #[test]
    fn generations_skip_zero() {
        let mut t = Handles::new(shares(1, 1, 1, 0));
        for _ in 0..70_000 {
            let h = t.insert(Client::Run(1), ()).unwrap();
            assert_ne!(h >> 16, 0);
            t.remove(h).unwrap();
        }
    }
}
