//! Handles and channels: bounded, bidirectional message queues between runs.
//!
//! [`Channel::create`] returns two ends; a message sent on one end is received on the other.
//! A message is up to a few KiB of bytes plus up to `MAX_GRANTS` handles, which are *moved*
//! to the receiver. Sending to a full channel blocks (or fails with `WouldBlock` in
//! non-blocking mode); when one end is closed, the other sees [`Error::Closed`]. Dropping a
//! [`Channel`] closes its end.

use zb_abi::syscall::{Grant, NONBLOCK, split_recv_result};

use crate::{Error, Rights, decode, len32, ptr32, sys};

/// A raw handle: an index into this run's capability table (with a generation, so a stale
/// handle is an error, never another object). `Copy`, and closes nothing on drop; owned
/// handles are wrapped in types such as [`Channel`].
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u32);

impl Handle {
    /// A handle from its ABI value.
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    /// The ABI value.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Closes the handle.
    pub fn close(self) -> Result<(), Error> {
        decode(sys::close(self.0 as i32)).map(drop)
    }

    /// A spawn grant moving this handle to the child with `rights` (empty: the same rights).
    pub fn grant(self, rights: Rights) -> Grant {
        Grant {
            handle: self.0,
            rights: rights.bits(),
        }
    }
}

/// `send`/`recv` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(i32);

impl Flags {
    /// Wait until the call can complete.
    pub const BLOCK: Flags = Flags(0);
    /// Fail with [`Error::WouldBlock`] instead of waiting.
    pub const NONBLOCK: Flags = Flags(NONBLOCK);

    /// The ABI value.
    pub const fn bits(self) -> i32 {
        self.0
    }
}

/// One end of a channel; closed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Channel {
    handle: Handle,
}

impl Channel {
    /// Creates a channel; returns its two ends.
    pub fn create() -> Result<(Channel, Channel), Error> {
        let mut ends = [0u32; 2];
        // SAFETY: the kernel writes 8 bytes at `ends`, which is 8 bytes borrowed mutably.
        decode(unsafe { sys::channel_create(ptr32(ends.as_mut_ptr())) })?;
        Ok((
            Channel::from_handle(Handle(ends[0])),
            Channel::from_handle(Handle(ends[1])),
        ))
    }

    /// Takes ownership of a channel-end handle (e.g. one from [`crate::grant`] or received in
    /// a message): it will be closed on drop.
    pub const fn from_handle(handle: Handle) -> Channel {
        Channel { handle }
    }

    /// The handle of this end (still owned by `self`).
    pub const fn handle(&self) -> Handle {
        self.handle
    }

    /// Gives up ownership without closing (to send the handle in a message, for example).
    pub fn into_handle(self) -> Handle {
        let h = self.handle;
        core::mem::forget(self);
        h
    }

    /// A spawn grant moving this end to the child with the same rights.
    pub fn into_grant(self) -> Grant {
        self.into_handle().grant(Rights::empty())
    }

    /// Sends `msg`, blocking while the channel is full.
    pub fn send(&self, msg: &[u8]) -> Result<(), Error> {
        self.send_with(msg, &[], Flags::BLOCK)
    }

    /// Sends `msg`, or fails with [`Error::WouldBlock`] if the channel is full.
    pub fn try_send(&self, msg: &[u8]) -> Result<(), Error> {
        self.send_with(msg, &[], Flags::NONBLOCK)
    }

    /// Sends `msg` and moves `handles` to the receiver (they need [`Rights::TRANSFER`]; on
    /// success they are no longer valid here).
    pub fn send_with(&self, msg: &[u8], handles: &[Handle], flags: Flags) -> Result<(), Error> {
        let (len, nhandles) = (len32(msg.len())?, len32(handles.len())?);
        // SAFETY: the kernel reads `msg` and `handles` within their lengths; both are
        // borrowed for the call (`Handle` is a `repr(transparent)` `u32`, the wire form).
        decode(unsafe {
            sys::send(
                self.handle.0 as i32,
                ptr32(msg.as_ptr()),
                len,
                ptr32(handles.as_ptr()),
                nhandles,
                flags.0,
            )
        })
        .map(drop)
    }

    /// Receives one message into `buf`, blocking until there is one; its length.
    /// [`Error::TooLarge`] if it does not fit `buf` (it stays queued); [`Error::Closed`] once
    /// the other end is closed and nothing is left.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.recv_with(buf, &mut [], Flags::BLOCK).map(|(n, _)| n)
    }

    /// Like [`Channel::recv`], but fails with [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.recv_with(buf, &mut [], Flags::NONBLOCK)
            .map(|(n, _)| n)
    }

    /// Receives one message: bytes into `buf`, handles into `handles`; returns
    /// `(bytes, handles)` received. The handles now belong to this run.
    pub fn recv_with(
        &self,
        buf: &mut [u8],
        handles: &mut [Handle],
        flags: Flags,
    ) -> Result<(usize, usize), Error> {
        let (cap, hcap) = (len32(buf.len())?, len32(handles.len())?);
        // SAFETY: the kernel writes at most `cap` bytes at `buf` and `hcap` `u32`s at
        // `handles`, both borrowed mutably (`Handle` is a `repr(transparent)` `u32`, valid
        // for any bit pattern).
        let v = decode(unsafe {
            sys::recv(
                self.handle.0 as i32,
                ptr32(buf.as_mut_ptr()),
                cap,
                ptr32(handles.as_mut_ptr()),
                hcap,
                flags.0,
            )
        })?;
        let (n, h) = split_recv_result(v as i64);
        Ok((n.min(buf.len()), h.min(handles.len())))
    }

    /// Request/reply: sends `req`, then blocks for one reply into `reply`; its length.
    pub fn call(&self, req: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        self.send(req)?;
        self.recv(reply)
    }

    /// Closes this end, reporting an error (dropping closes too, silently).
    pub fn close(self) -> Result<(), Error> {
        self.into_handle().close()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = sys::close(self.handle.0 as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_carry_handle_and_rights() {
        let g = Handle::from_raw(0x0001_0003).grant(Rights::READ | Rights::WRITE);
        assert_eq!(g.handle, 0x0001_0003);
        assert_eq!(g.rights, 3);
        let ch = Channel::from_handle(Handle::from_raw(9));
        assert_eq!(ch.handle().raw(), 9);
        assert_eq!(ch.into_grant().rights, 0);
    }

    #[test]
    fn flags_are_abi_values() {
        assert_eq!(Flags::BLOCK.bits(), 0);
        assert_eq!(Flags::NONBLOCK.bits(), 1);
    }
}
