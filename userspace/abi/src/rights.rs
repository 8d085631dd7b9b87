//! Rights: what a handle allows its holder to do.
//!
//! A handle's rights can only shrink: granting a handle to a child or sending it over a channel
//! passes a subset of the sender's rights, never more.

bitflags::bitflags! {
    /// Rights attached to a handle. The bit values are ABI.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        /// Receive from it / read it.
        const READ = 1 << 0;
        /// Send to it / write it.
        const WRITE = 1 << 1;
        /// Pass it to another run (over a channel or in a spawn grant).
        const TRANSFER = 1 << 2;
        /// Make a copy of the handle (possibly with fewer rights).
        const DUPLICATE = 1 << 3;
        /// Wait for it (a child run's exit).
        const WAIT = 1 << 4;
        /// Stop it (a child run).
        const KILL = 1 << 5;
    }
}

impl Rights {
    /// Whether `self` may be handed on as `wanted`: `wanted` must be a subset.
    pub fn allows_grant_of(self, wanted: Rights) -> bool {
        self.contains(wanted)
    }
}
