//! Capabilities: a run's handle table.
//!
//! A handle is a small integer naming a slot in the run's table plus that slot's generation:
//! `handle = (generation << 16) | index`. Freeing a slot bumps its generation, so a stale handle
//! is an error ([`Error::BadHandle`]), never another object. Each entry carries [`Rights`]; an
//! operation names the rights it needs and is refused with [`Error::PermissionDenied`] without
//! them. Handle value 0 is never valid (generations start at 1), so a zeroed variable in a
//! program is not a handle.
//!
//! Invariants: `free` lists exactly the empty slots; live entries have generation ≥ 1; the table
//! never exceeds `limit` live entries.

use alloc::vec::Vec;

use zb_abi::{Error, Rights};

/// A handle as a run sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(pub u32);

impl Handle {
    fn new(index: u16, generation: u16) -> Handle {
        Handle(u32::from(generation) << 16 | u32::from(index))
    }

    fn index(self) -> usize {
        (self.0 & 0xFFFF) as usize
    }

    fn generation(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

struct Slot<T> {
    generation: u16,
    entry: Option<(T, Rights)>,
}

pub struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u16>,
    live: usize,
    limit: usize,
}

impl<T> HandleTable<T> {
    /// A table that holds at most `limit` live handles (at most 65536).
    pub fn new(limit: usize) -> Self {
        HandleTable {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            limit: limit.min(1 << 16),
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// How many more handles fit.
    pub fn room(&self) -> usize {
        self.limit - self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn insert(&mut self, object: T, rights: Rights) -> Result<Handle, Error> {
        if self.live >= self.limit {
            return Err(Error::OutOfMemory);
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 1,
                    entry: None,
                });
                // `limit <= 65536` bounds `slots.len()`, so the index fits in 16 bits.
                (self.slots.len() - 1) as u16
            }
        };
        let slot = &mut self.slots[usize::from(index)];
        slot.entry = Some((object, rights));
        self.live += 1;
        Ok(Handle::new(index, slot.generation))
    }

    fn slot(&self, h: Handle) -> Result<&(T, Rights), Error> {
        match self.slots.get(h.index()) {
            Some(Slot {
                generation,
                entry: Some(e),
            }) if *generation == h.generation() => Ok(e),
            _ => Err(Error::BadHandle),
        }
    }

    /// The object behind `h`, if `h` is live and carries at least `needed`.
    pub fn get(&self, h: Handle, needed: Rights) -> Result<&T, Error> {
        let (object, rights) = self.slot(h)?;
        if rights.contains(needed) {
            Ok(object)
        } else {
            Err(Error::PermissionDenied)
        }
    }

    pub fn rights(&self, h: Handle) -> Result<Rights, Error> {
        self.slot(h).map(|(_, r)| *r)
    }

    /// Removes `h`; its slot's next occupant gets a new generation.
    pub fn remove(&mut self, h: Handle) -> Result<(T, Rights), Error> {
        self.slot(h)?;
        let slot = &mut self.slots[h.index()];
        let entry = slot.entry.take().ok_or(Error::BadHandle)?;
        // Skip generation 0 on wrap: 0 is never a valid generation.
        slot.generation = slot.generation.checked_add(1).unwrap_or(1);
        self.free.push(h.index() as u16);
        self.live -= 1;
        Ok(entry)
    }

    /// Checks that `h` may be passed on with `wanted` rights (it needs TRANSFER, and `wanted`
    /// must be a subset of what it has) and returns the object to share.
    pub fn grant(&self, h: Handle, wanted: Rights) -> Result<&T, Error> {
        let (object, rights) = self.slot(h)?;
        if rights.contains(Rights::TRANSFER) && rights.allows_grant_of(wanted) {
            Ok(object)
        } else {
            Err(Error::PermissionDenied)
        }
    }

    /// Live handles, for `ps` and for closing everything when a run ends.
    /// Removes every entry (the run ended); returns the objects.
    pub fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.live);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some((object, _)) = slot.entry.take() {
                slot.generation = slot.generation.checked_add(1).unwrap_or(1);
                self.free.push(i as u16);
                out.push(object);
            }
        }
        self.live = 0;
        out
    }

    pub fn handles(&self) -> impl Iterator<Item = (Handle, &T, Rights)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry
                .as_ref()
                .map(|(o, r)| (Handle::new(i as u16, s.generation), o, *r))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Rights = Rights::READ.union(Rights::WRITE);

    #[test]
    fn insert_get_remove() {
        let mut t = HandleTable::new(8);
        let h = t.insert("chan", RW).unwrap();
        assert_ne!(h.0, 0, "handle 0 is never valid");
        assert_eq!(t.get(h, Rights::READ), Ok(&"chan"));
        assert_eq!(t.remove(h), Ok(("chan", RW)));
        assert!(t.is_empty());
    }

    #[test]
    fn stale_handles_are_errors_never_other_objects() {
        let mut t = HandleTable::new(8);
        let old = t.insert(1, RW).unwrap();
        t.remove(old).unwrap();
        let new = t.insert(2, RW).unwrap();
        assert_eq!(old.index(), new.index(), "the slot is reused");
        assert_eq!(t.get(old, Rights::empty()), Err(Error::BadHandle));
        assert_eq!(t.remove(old), Err(Error::BadHandle));
        assert_eq!(t.get(new, Rights::empty()), Ok(&2));
        // Forged and out-of-range handles.
        assert_eq!(t.get(Handle(0), Rights::empty()), Err(Error::BadHandle));
        assert_eq!(
            t.get(Handle(u32::MAX), Rights::empty()),
            Err(Error::BadHandle)
        );
        assert_eq!(
            t.get(Handle(new.0 ^ 0x1_0000), Rights::empty()),
            Err(Error::BadHandle)
        );
    }

    #[test]
    fn wrong_rights_are_refused() {
        let mut t = HandleTable::new(8);
        let h = t.insert((), Rights::READ).unwrap();
        assert_eq!(t.get(h, Rights::WRITE), Err(Error::PermissionDenied));
        assert_eq!(t.get(h, RW), Err(Error::PermissionDenied));
        assert!(t.get(h, Rights::READ).is_ok());
    }

    #[test]
    fn grants_never_widen_rights() {
        let mut t = HandleTable::new(8);
        let h = t.insert((), RW | Rights::TRANSFER).unwrap();
        assert!(t.grant(h, Rights::READ).is_ok());
        assert!(t.grant(h, RW | Rights::TRANSFER).is_ok());
        assert_eq!(t.grant(h, Rights::KILL), Err(Error::PermissionDenied));
        let no_transfer = t.insert((), RW).unwrap();
        assert_eq!(
            t.grant(no_transfer, Rights::READ),
            Err(Error::PermissionDenied)
        );
    }

    #[test]
    fn the_limit_holds() {
        let mut t = HandleTable::new(2);
        let a = t.insert(0, RW).unwrap();
        t.insert(1, RW).unwrap();
        assert_eq!(t.insert(2, RW), Err(Error::OutOfMemory));
        t.remove(a).unwrap();
        assert!(t.insert(3, RW).is_ok());
        assert_eq!(t.handles().count(), 2);
    }

    #[test]
    fn generations_survive_many_reuses() {
        let mut t = HandleTable::new(1);
        let mut seen = alloc::collections::BTreeSet::new();
        for i in 0..70_000u32 {
            let h = t.insert(i, RW).unwrap();
            assert_ne!(h.generation(), 0);
            if i < 65_535 {
                assert!(seen.insert(h.0), "a handle value came back too early");
            }
            t.remove(h).unwrap();
        }
    }
}
