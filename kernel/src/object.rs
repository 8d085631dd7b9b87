//! Kernel objects that handles name, and the store of channels.
//!
//! Every channel end has exactly one holder at a time: a slot in one run's handle table, or a
//! place in one undelivered message (ends cannot be duplicated). So when a holder lets go of
//! an end — `close`, the run ending, or a message being dropped with the channel — that end
//! is closed, and a channel whose two ends are closed is freed. No object outlives its last
//! holder, so channel ids need no generation: nothing can name a freed channel.

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

    /// A message body holding a copy of `bytes` (in a recycled buffer if one fits).
    pub fn message_bytes(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut buffer = match self.spare.pop() {
            Some(b) if b.capacity() >= bytes.len() => b,
            Some(b) => {
                self.spare.push(b);
                Vec::new()
            }
            None => Vec::new(),
        };
        buffer.extend_from_slice(bytes);
        buffer
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

    /// [`Channels::release`], adding the changed channels to `changed` (each once).
    pub fn release_into(&mut self, object: Object, changed: &mut Vec<ChannelId>) {
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
