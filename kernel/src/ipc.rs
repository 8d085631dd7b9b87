//! Channels: bounded, bidirectional message queues between two ends.
//!
//! A message is bytes plus, optionally, objects being transferred (handles). Each end has its
//! own inbound queue of at most `capacity` messages. Sending to a full queue, or receiving from
//! an empty one, is [`Error::WouldBlock`] — the scheduler turns that into a WAIT for runs that
//! asked to block. Closing an end wakes the other with [`Error::Closed`] once its queue is
//! drained, never a hang.
//!
//! Invariants: a queue never holds more than `capacity` messages or a message over
//! [`MAX_MESSAGE`] bytes; nothing is ever queued toward a closed end.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use zb_abi::Error;

use crate::account::Charge;

pub use zb_abi::syscall::{MAX_MESSAGE, MAX_MESSAGE_HANDLES};

/// One of a channel's two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    A,
    B,
}

impl End {
    pub fn peer(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }

    fn index(self) -> usize {
        match self {
            End::A => 0,
            End::B => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<H> {
    pub bytes: Vec<u8>,
    pub handles: Vec<H>,
    /// What the sender was charged for it, given back when the message is received or
    /// dropped (`crate::account`).
    pub charge: Charge,
}

pub struct Channel<H> {
    /// `inbox[e]`: messages waiting to be received at end `e`.
    inbox: [VecDeque<Message<H>>; 2],
    open: [bool; 2],
    capacity: usize,
}

impl<H> Channel<H> {
    pub fn new(capacity: usize) -> Self {
        Channel {
            inbox: [VecDeque::new(), VecDeque::new()],
            open: [true, true],
            capacity: capacity.max(1),
        }
    }

    /// Checks a message against the limits before anything is moved (so a refused send
    /// changes nothing).
    pub fn check_size(bytes: usize, handles: usize) -> Result<(), Error> {
        if bytes > MAX_MESSAGE || handles > MAX_MESSAGE_HANDLES {
            Err(Error::TooLarge)
        } else {
            Ok(())
        }
    }

    /// Whether `from` could send right now (for the scheduler's wake-up checks).
    pub fn can_send(&self, from: End) -> Result<bool, Error> {
        if !self.open[from.peer().index()] || !self.open[from.index()] {
            return Err(Error::Closed);
        }
        Ok(self.inbox[from.peer().index()].len() < self.capacity)
    }

    /// Sends `msg` from `from` to the other end. On error the message is handed back.
    pub fn send(&mut self, from: End, msg: Message<H>) -> Result<(), (Error, Message<H>)> {
        if let Err(e) = Self::check_size(msg.bytes.len(), msg.handles.len()) {
            return Err((e, msg));
        }
        match self.can_send(from) {
            Ok(true) => {
                self.inbox[from.peer().index()].push_back(msg);
                Ok(())
            }
            Ok(false) => Err((Error::WouldBlock, msg)),
            Err(e) => Err((e, msg)),
        }
    }

    /// Whether a receive at `at` would return something other than WouldBlock.
    pub fn can_recv(&self, at: End) -> bool {
        !self.inbox[at.index()].is_empty() || !self.open[at.peer().index()]
    }

    /// Receives the oldest message waiting at `at`. Messages sent before the peer closed are
    /// still delivered; after that, [`Error::Closed`].
    pub fn recv(&mut self, at: End) -> Result<Message<H>, Error> {
        self.peek(at)?;
        self.inbox[at.index()].pop_front().ok_or(Error::WouldBlock)
    }

    /// Closes `end`; returns the messages that were waiting for it (their handles must be
    /// released by the caller).
    /// The next message `at` would receive, without taking it; the same errors as
    /// [`Channel::recv`].
    pub fn peek(&self, at: End) -> Result<&Message<H>, Error> {
        if !self.open[at.index()] {
            return Err(Error::Closed);
        }
        match self.inbox[at.index()].front() {
            Some(m) => Ok(m),
            None if self.open[at.peer().index()] => Err(Error::WouldBlock),
            None => Err(Error::Closed),
        }
    }

    pub fn close(&mut self, end: End) -> Vec<Message<H>> {
        self.open[end.index()] = false;
        self.inbox[end.index()].drain(..).collect()
    }

    /// Both ends closed: the channel can be freed.
    pub fn is_dead(&self) -> bool {
        !self.open[0] && !self.open[1]
    }

    pub fn queued(&self, at: End) -> usize {
        self.inbox[at.index()].len()
    }

    /// Whether `end` is open.
    pub fn is_open(&self, end: End) -> bool {
        self.open[end.index()]
    }

    /// The messages waiting to be received at `at`.
    pub fn inbox(&self, at: End) -> impl Iterator<Item = &Message<H>> {
        self.inbox[at.index()].iter()
    }

    /// Whether any waiting message carries handles.
    pub fn carries_handles(&self) -> bool {
        self.inbox.iter().flatten().any(|m| !m.handles.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn msg(b: &[u8]) -> Message<u32> {
        Message {
            bytes: b.to_vec(),
            handles: vec![],
            charge: Charge::none(),
        }
    }

    #[test]
    fn messages_flow_both_ways_in_order() {
        let mut c = Channel::new(4);
        c.send(End::A, msg(b"1")).unwrap();
        c.send(End::A, msg(b"2")).unwrap();
        c.send(End::B, msg(b"x")).unwrap();
        assert_eq!(c.recv(End::B).unwrap().bytes, b"1");
        assert_eq!(c.recv(End::B).unwrap().bytes, b"2");
        assert_eq!(c.recv(End::A).unwrap().bytes, b"x");
        assert_eq!(c.recv(End::A), Err(Error::WouldBlock));
    }

    #[test]
    fn a_full_channel_pushes_back_and_hands_the_message_back() {
        let mut c = Channel::new(2);
        c.send(End::A, msg(b"1")).unwrap();
        c.send(End::A, msg(b"2")).unwrap();
        assert_eq!(c.can_send(End::A), Ok(false));
        let (e, back) = c.send(End::A, msg(b"3")).unwrap_err();
        assert_eq!((e, back.bytes.as_slice()), (Error::WouldBlock, &b"3"[..]));
        c.recv(End::B).unwrap();
        assert!(c.send(End::A, msg(b"3")).is_ok());
        assert_eq!(c.queued(End::B), 2);
    }

    #[test]
    fn closing_wakes_the_peer_with_an_error_after_draining() {
        let mut c = Channel::new(4);
        c.send(End::A, msg(b"last words")).unwrap();
        assert!(c.close(End::A).is_empty());
        assert!(c.can_recv(End::B));
        assert_eq!(c.recv(End::B).unwrap().bytes, b"last words");
        assert_eq!(c.recv(End::B), Err(Error::Closed));
        assert_eq!(c.send(End::B, msg(b"?")).unwrap_err().0, Error::Closed);
        assert!(!c.is_dead());
        c.close(End::B);
        assert!(c.is_dead());
    }

    #[test]
    fn closing_returns_undelivered_messages_with_their_handles() {
        let mut c = Channel::new(4);
        c.send(
            End::A,
            Message {
                bytes: vec![],
                handles: vec![7, 8],
                charge: Charge::none(),
            },
        )
        .unwrap();
        let dropped = c.close(End::B);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].handles, vec![7, 8]);
        assert_eq!(c.recv(End::B), Err(Error::Closed));
    }

    #[test]
    fn oversized_messages_are_refused() {
        let mut c: Channel<u32> = Channel::new(4);
        let big = Message {
            bytes: vec![0; MAX_MESSAGE + 1],
            handles: vec![],
            charge: Charge::none(),
        };
        assert_eq!(c.send(End::A, big).unwrap_err().0, Error::TooLarge);
        let many = Message {
            bytes: vec![],
            handles: vec![0; MAX_MESSAGE_HANDLES + 1],
            charge: Charge::none(),
        };
        assert_eq!(c.send(End::A, many).unwrap_err().0, Error::TooLarge);
        assert_eq!(c.queued(End::B), 0, "a refused send changes nothing");
        let exact = Message {
            bytes: vec![0; MAX_MESSAGE],
            handles: vec![0; MAX_MESSAGE_HANDLES],
            charge: Charge::none(),
        };
        assert!(c.send(End::A, exact).is_ok());
    }
}
