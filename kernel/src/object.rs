//! Kernel objects that handles name, and the store of channels.
//!
//! Every channel end has exactly one holder at a time: a slot in one run's handle table, or a
//! place in one undelivered message (ends cannot be duplicated). So when a holder lets go of
//! an end — `close`, the run ending, or a message being dropped with the channel — that end
//! is closed, and a channel whose two ends are closed is freed. No object outlives its last
//! holder, so channel ids need no generation: nothing can name a freed channel.
//!
//! Ends travelling in messages can form cycles that no holder can reach any more (end B of
//! channel 1 queued in channel 2, end B of channel 2 queued in channel 1, both A ends closed).
//! Two rules keep that from stranding memory (the ABI documents them, `zb_abi::syscall`):
//! an end cannot be sent through its own channel — neither end: that is the smallest cycle,
//! and the send is refused, as Zircon refuses it — and after every release that leaves
//! handles in flight, [`Channels::collect`] closes every open end that no handle table can
//! reach through the messages it could receive, which frees the cycle.

use alloc::vec::Vec;

use zb_abi::Rights;

use crate::ipc::{Channel, End};

/// A channel's index in [`Channels`].
pub type ChannelId = u32;

/// What a handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    ChannelEnd {
        channel: ChannelId,
        end: End,
    },
    /// Something opened through a URL: the scheme's handler knows it as `remote`.
    Remote {
        scheme: crate::scheme::SchemeIndex,
        remote: zb_abi::scheme::RemoteHandle,
        /// Opened as a directory (listed with `readdir`, not `read`).
        dir: bool,
    },
    /// A subscription to the event bus (`crate::bus`), by its index there.
    Subscription {
        sub: u32,
    },
}

impl Object {
    /// The two ends of channel `channel`.
    pub fn channel_ends(channel: ChannelId) -> [Object; 2] {
        [End::A, End::B].map(|end| Object::ChannelEnd { channel, end })
    }
}

/// A handle travelling inside a message: the object and the rights the receiver gets.
pub type InTransit = (Object, Rights);

/// The rights a fresh channel end comes with.
pub const CHANNEL_RIGHTS: Rights = Rights::READ
    .union(Rights::WRITE)
    .union(Rights::TRANSFER)
    .union(Rights::WAIT);

/// Spare message buffers kept for reuse, and the largest capacity worth keeping (small
/// messages are the common case; a few hundred bytes of heap at most).
const SPARE_BUFFERS: usize = 4;
const SPARE_CAPACITY: usize = 128;

#[derive(Default)]
pub struct Channels {
    slots: Vec<Option<Channel<InTransit>>>,
    free: Vec<ChannelId>,
    /// Emptied message buffers, so that a message usually costs no allocation.
    spare: Vec<Vec<u8>>,
}

impl Channels {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new channel holding up to `capacity` messages per direction.
    pub fn create(&mut self, capacity: usize) -> ChannelId {
        let channel = Some(Channel::new(capacity));
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = channel;
                id
            }
            None => {
                self.slots.push(channel);
                (self.slots.len() - 1) as ChannelId
            }
        }
    }

    pub fn get_mut(&mut self, id: ChannelId) -> Option<&mut Channel<InTransit>> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn get(&self, id: ChannelId) -> Option<&Channel<InTransit>> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// A message body holding a copy of `bytes` (in a recycled buffer if one fits);
    /// `OutOfMemory` if the heap cannot give a buffer.
    pub fn message_bytes(&mut self, bytes: &[u8]) -> Result<Vec<u8>, zb_abi::Error> {
        match self.spare.pop() {
            Some(mut b) if b.capacity() >= bytes.len() => {
                b.extend_from_slice(bytes);
                Ok(b)
            }
            Some(b) => {
                self.spare.push(b);
                crate::account::try_copy(bytes)
            }
            None => crate::account::try_copy(bytes),
        }
    }

    /// Takes back a delivered message body for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buffer.capacity() <= SPARE_CAPACITY {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// Live channels.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets go of `object`: closes the channel end, and with it every end that was travelling
    /// in a message nobody can receive any more. Returns the channels whose state changed (their
    /// waiters must be woken).
    pub fn release(&mut self, object: Object) -> Vec<ChannelId> {
        let mut changed = Vec::new();
        self.release_into(object, &mut changed);
        changed
    }

    /// [`Channels::release`], adding the changed channels to `changed` (each once); then
    /// collects the ends in flight that nothing can reach any more ([`Channels::collect`]).
    pub fn release_into(&mut self, object: Object, changed: &mut Vec<ChannelId>) {
        self.close_end(object, changed);
        self.collect(changed);
    }

    /// Closes every open end that no holder outside the channels can reach: an end is
    /// reachable if it is not travelling in a message (a handle table holds it), or if it
    /// travels in a message waiting at a reachable end (whoever holds that end can receive
    /// it). Unreachable ends are closed as if their holder had let go, freeing their channels
    /// and everything queued in them. Returns at once when no message carries a handle.
    pub fn collect(&mut self, changed: &mut Vec<ChannelId>) {
        if !self.slots.iter().flatten().any(Channel::carries_handles) {
            return;
        }
        let ix = |channel: ChannelId, end: End| channel as usize * 2 + usize::from(end == End::B);
        // Ends travelling in some message.
        let mut travelling = alloc::vec![false; self.slots.len() * 2];
        for c in self.slots.iter().flatten() {
            for at in [End::A, End::B] {
                for (object, _) in c.inbox(at).flat_map(|m| &m.handles) {
                    if let Object::ChannelEnd { channel, end } = *object {
                        travelling[ix(channel, end)] = true;
                    }
                }
            }
        }
        // Mark from the ends that handle tables hold, through the messages they can receive.
        let mut reachable = alloc::vec![false; self.slots.len() * 2];
        let mut work = Vec::new();
        for (id, c) in self.slots.iter().enumerate() {
            let Some(c) = c else { continue };
            for end in [End::A, End::B] {
                let i = ix(id as ChannelId, end);
                if c.is_open(end) && !travelling[i] {
                    reachable[i] = true;
                    work.push((id as ChannelId, end));
                }
            }
        }
        while let Some((id, end)) = work.pop() {
            let Some(c) = self.get(id) else { continue };
            for (object, _) in c.inbox(end).flat_map(|m| &m.handles) {
                if let Object::ChannelEnd { channel, end } = *object
                    && !reachable[ix(channel, end)]
                {
                    reachable[ix(channel, end)] = true;
                    work.push((channel, end));
                }
            }
        }
        // Close the rest (closing frees what their queues held, too).
        for id in 0..self.slots.len() as ChannelId {
            for end in [End::A, End::B] {
                let open = self.get(id).is_some_and(|c| c.is_open(end));
                if open && !reachable[ix(id, end)] {
                    self.close_end(Object::ChannelEnd { channel: id, end }, changed);
                }
            }
        }
    }

    /// Closes `object` (a channel end) and every end travelling in the messages it drops.
    fn close_end(&mut self, object: Object, changed: &mut Vec<ChannelId>) {
        let mut pending = Vec::new();
        let mut next = Some(object);
        while let Some(object) = next.take().or_else(|| pending.pop()) {
            // Remote objects never travel (they carry no TRANSFER right) and are let go of by
            // the kernel itself (`Kernel::release`), so only channel ends reach this point.
            let Object::ChannelEnd { channel, end } = object else {
                continue;
            };
            let Some(c) = self.get_mut(channel) else {
                continue;
            };
            for message in c.close(end) {
                pending.extend(message.handles.into_iter().map(|(o, _)| o));
            }
            if c.is_dead() {
                // Messages still queued towards the other (closed) end die with the channel.
                let peer = end.peer();
                for message in c.close(peer) {
                    pending.extend(message.handles.into_iter().map(|(o, _)| o));
                }
                self.slots[channel as usize] = None;
                self.free.push(channel);
            }
            if !changed.contains(&channel) {
                changed.push(channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::Message;
    use alloc::vec;

    #[test]
    fn a_channel_is_freed_when_both_ends_are_released() {
        let mut cs = Channels::new();
        let id = cs.create(4);
        assert_eq!(cs.len(), 1);
        let [a, b] = Object::channel_ends(id);
        assert_eq!(cs.release(a), vec![id]);
        assert_eq!(cs.len(), 1, "B still holds it");
        cs.release(b);
        assert!(cs.is_empty());
        assert_eq!(cs.create(4), id, "the slot is reused");
    }

    fn end(channel: ChannelId, end: End) -> Object {
        Object::ChannelEnd { channel, end }
    }

    fn carry(cs: &mut Channels, through: ChannelId, from: End, object: Object) {
        let message = Message {
            bytes: vec![0; 100],
            handles: vec![(object, CHANNEL_RIGHTS)],
            charge: crate::account::Charge::none(),
        };
        cs.get_mut(through).unwrap().send(from, message).unwrap();
    }

    #[test]
    fn a_cycle_of_ends_in_flight_is_collected_when_its_last_holder_lets_go() {
        let mut cs = Channels::new();
        let (one, two) = (cs.create(4), cs.create(4));
        // one.B travels in two (towards two.B), two.B in one (towards one.B): a cycle.
        carry(&mut cs, two, End::A, end(one, End::B));
        carry(&mut cs, one, End::A, end(two, End::B));
        let changed = cs.release(end(one, End::A));
        // Nobody can receive one.B or two.B any more (two.A receives only what two.B sends):
        // both are closed, channel one is freed, two.A sees its peer gone.
        assert_eq!(cs.len(), 1);
        assert!(changed.contains(&one) && changed.contains(&two));
        assert_eq!(
            cs.get_mut(two).unwrap().recv(End::A),
            Err(zb_abi::Error::Closed)
        );
        cs.release(end(two, End::A));
        assert!(cs.is_empty());
    }

    #[test]
    fn ends_a_holder_can_still_receive_are_kept() {
        let mut cs = Channels::new();
        let (outer, inner) = (cs.create(4), cs.create(4));
        // inner.B waits at outer.B, which its holder can still receive.
        carry(&mut cs, outer, End::A, end(inner, End::B));
        cs.release(end(outer, End::A));
        assert_eq!(cs.len(), 2, "outer.B's holder can still receive inner.B");
        let c = cs.get_mut(outer).unwrap();
        let got = c.recv(End::B).unwrap();
        assert_eq!(got.handles[0].0, end(inner, End::B));
        // Nested: a chain of ends each waiting in the previous one's inbox stays alive while
        // its head is held, and goes with it.
        let (a, b, c) = (cs.create(4), cs.create(4), cs.create(4));
        carry(&mut cs, a, End::B, end(b, End::A));
        carry(&mut cs, b, End::B, end(c, End::A));
        cs.release(end(b, End::B));
        cs.release(end(c, End::B));
        assert_eq!(cs.len(), 5, "a.A can receive b.A, which can receive c.A");
        cs.release(end(a, End::B));
        cs.release(end(a, End::A));
        assert_eq!(cs.len(), 2, "the chain went with its head");
    }

    #[test]
    fn ends_travelling_in_dropped_messages_are_closed_too() {
        let mut cs = Channels::new();
        let outer = cs.create(4);
        let inner = cs.create(4);
        // Send inner's end B over outer (A → B), then drop outer entirely.
        let inner_b = Object::ChannelEnd {
            channel: inner,
            end: End::B,
        };
        cs.get_mut(outer)
            .unwrap()
            .send(
                End::A,
                Message {
                    bytes: vec![],
                    handles: vec![(inner_b, CHANNEL_RIGHTS)],
                    charge: crate::account::Charge::none(),
                },
            )
            .unwrap();
        cs.release(Object::ChannelEnd {
            channel: outer,
            end: End::A,
        });
        let changed = cs.release(Object::ChannelEnd {
            channel: outer,
            end: End::B,
        });
        assert!(
            changed.contains(&inner),
            "the holder of inner's A end must be woken"
        );
        // Inner's A end now sees its peer closed.
        let c = cs.get_mut(inner).unwrap();
        assert_eq!(c.recv(End::A), Err(zb_abi::Error::Closed));
        cs.release(Object::ChannelEnd {
            channel: inner,
            end: End::A,
        });
        assert!(cs.is_empty());
    }
}
