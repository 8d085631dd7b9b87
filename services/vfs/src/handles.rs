//! The table of open files: dense slots with generations.
//!
//! Job: turn what a client opened into a `u32` remote handle and back, so that a handle that
//! was closed (or never issued) can never name another open file.
//!
//! A handle is `generation << 16 | (slot + 1)`. Invariants:
//! - At most `max` entries are open, and at most `per_owner` for one client; opening more is
//!   `OutOfMemory` (a resource limit), never a panic or an unbounded table.
//! - A slot's generation changes every time its entry is removed, so a stale handle misses
//!   (`get` and `remove` return `None`) even after the slot is reused; generations wrap after
//!   65536 reuses of one slot, and 0 is never issued (so handle 0 is never valid).

use alloc::vec::Vec;

use zb_abi::{Error, Pid};

struct Slot<T> {
    generation: u16,
    entry: Option<(Pid, T)>,
}

/// Open entries of type `T`, each owned by a client.
pub struct Handles<T> {
    slots: Vec<Slot<T>>,
    max: usize,
    per_owner: usize,
}

impl<T> Handles<T> {
    /// A table of at most `max` (≤ 65535) entries, `per_owner` of them for one client.
    pub fn new(max: usize, per_owner: usize) -> Self {
        Handles {
            slots: Vec::new(),
            max: max.min(u16::MAX as usize),
            per_owner,
        }
    }

    /// Whether `owner` may open one more entry now.
    pub fn has_room(&self, owner: Pid) -> bool {
        let mine = self
            .slots
            .iter()
            .filter(|s| matches!(s.entry, Some((o, _)) if o == owner))
            .count();
        let free_slot = self.slots.len() < self.max || self.slots.iter().any(|s| s.entry.is_none());
        mine < self.per_owner && free_slot
    }

    /// Stores `entry` for `owner` and returns its handle.
    pub fn insert(&mut self, owner: Pid, entry: T) -> Result<u32, Error> {
        if !self.has_room(owner) {
            return Err(Error::OutOfMemory);
        }
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(i) => i,
            None if self.slots.len() < self.max => {
                self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                self.slots.push(Slot {
                    generation: 1,
                    entry: None,
                });
                self.slots.len() - 1
            }
            None => return Err(Error::OutOfMemory),
        };
        let slot = &mut self.slots[index];
        slot.entry = Some((owner, entry));
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

    #[test]
    fn stale_handles_miss() {
        let mut t = Handles::new(2, 2);
        let a = t.insert(1, "a").unwrap();
        assert_ne!(a, 0);
        assert_eq!(t.get(a), Some(&mut "a"));
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.get(a), None);
        assert_eq!(t.remove(a), None);
        let b = t.insert(1, "b").unwrap();
        assert_ne!(a, b, "the reused slot has a new generation");
        assert_eq!(t.get(a), None);
        for junk in [0, 1, 0xFFFF, u32::MAX, b ^ 0x10000, b + 1] {
            assert_eq!(t.get(junk), None, "{junk:#x}");
        }
    }

    #[test]
    fn bounded() {
        let mut t = Handles::new(3, 2);
        t.insert(1, ()).unwrap();
        t.insert(1, ()).unwrap();
        assert_eq!(t.insert(1, ()), Err(Error::OutOfMemory));
        let h = t.insert(2, ()).unwrap();
        assert_eq!(t.insert(3, ()), Err(Error::OutOfMemory));
        t.remove(h);
        t.insert(3, ()).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn generations_skip_zero() {
        let mut t = Handles::new(1, 1);
        for _ in 0..70_000 {
            let h = t.insert(1, ()).unwrap();
            assert_ne!(h >> 16, 0);
            t.remove(h).unwrap();
        }
    }
}
