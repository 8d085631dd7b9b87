//! Requests in flight between clients and scheme handlers.
//!
//! A client's call on a URL or a remote handle becomes an [`OwnedOp`] (it owns its path and
//! data, since the client's memory is not reachable once the call has left the interpreter).
//! For a service scheme it is queued as an [`Outgoing`] request for the boot loop to hand to
//! the service; the client waits until [`InFlight::complete`] pairs the handler's reply with
//! it. A reply for a client that is gone is dropped — except that a successful `open` is
//! answered with a `close`, so the handler does not keep a file open for nobody.
//!
//! Invariants: request ids are unique among requests in flight (a wrapping counter, skipping
//! ids still in flight); every id in the table names exactly one client.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::scheme::{FsInfo, Op, OpenFlags, RemoteHandle, Reply, RequestId, Stat, Whence};
use zb_abi::{Error, Pid};

use crate::account::Charge;
use crate::scheme::SchemeIndex;

/// An operation with everything it names copied out of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedOp {
    Open {
        /// The scheme the URL named (a service may serve several).
        scheme: &'static str,
        path: String,
        flags: OpenFlags,
    },
    Read {
        handle: RemoteHandle,
        len: u32,
    },
    Write {
        handle: RemoteHandle,
        data: Vec<u8>,
    },
    Seek {
        handle: RemoteHandle,
        offset: i64,
        whence: Whence,
    },
    Close {
        handle: RemoteHandle,
    },
    Stat {
        path: String,
    },
    StatHandle {
        handle: RemoteHandle,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    StatFs {
        path: String,
    },
}

impl OwnedOp {
    pub fn as_op(&self) -> Op<'_> {
        match self {
            OwnedOp::Open {
                scheme,
                path,
                flags,
            } => Op::Open {
                scheme,
                path,
                flags: *flags,
            },
            OwnedOp::Read { handle, len } => Op::Read {
                handle: *handle,
                len: *len,
            },
            OwnedOp::Write { handle, data } => Op::Write {
                handle: *handle,
                data,
            },
            OwnedOp::Seek {
                handle,
                offset,
                whence,
            } => Op::Seek {
                handle: *handle,
                offset: *offset,
                whence: *whence,
            },
            OwnedOp::Close { handle } => Op::Close { handle: *handle },
            OwnedOp::Stat { path } => Op::Stat { path },
            OwnedOp::StatHandle { handle } => Op::StatHandle { handle: *handle },
            OwnedOp::Unlink { path } => Op::Unlink { path },
            OwnedOp::Mkdir { path } => Op::Mkdir { path },
            OwnedOp::Rmdir { path } => Op::Rmdir { path },
            OwnedOp::Rename { from, to } => Op::Rename { from, to },
            OwnedOp::StatFs { path } => Op::StatFs { path },
        }
    }
}

/// A reply, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedReply {
    Done(u64),
    Data(Vec<u8>),
    Stat(Stat),
    Info(FsInfo),
    Err(Error),
}

impl From<Reply<'_>> for OwnedReply {
    fn from(r: Reply<'_>) -> Self {
        match r {
            Reply::Done(v) => OwnedReply::Done(v),
            Reply::Data(d) => OwnedReply::Data(d.to_vec()),
            Reply::Stat(s) => OwnedReply::Stat(s),
            Reply::Info(i) => OwnedReply::Info(i),
            Reply::Err(e) => OwnedReply::Err(e),
        }
    }
}

impl OwnedReply {
    // What a reply must be for the call it answers; an error stays an error, and a reply of
    // the wrong sort (a handler bug) is `Corrupt`.

    pub fn done(self) -> Result<u64, Error> {
        match self {
            OwnedReply::Done(v) => Ok(v),
            OwnedReply::Err(e) => Err(e),
            _ => Err(Error::Corrupt),
        }
    }

    pub fn data(self) -> Result<Vec<u8>, Error> {
        match self {
            OwnedReply::Data(d) => Ok(d),
            OwnedReply::Err(e) => Err(e),
            _ => Err(Error::Corrupt),
        }
    }

    pub fn stat(self) -> Result<Stat, Error> {
        match self {
            OwnedReply::Stat(s) => Ok(s),
            OwnedReply::Err(e) => Err(e),
            _ => Err(Error::Corrupt),
        }
    }

    pub fn info(self) -> Result<FsInfo, Error> {
        match self {
            OwnedReply::Info(i) => Ok(i),
            OwnedReply::Err(e) => Err(e),
            _ => Err(Error::Corrupt),
        }
    }
}

/// A request waiting to be handed to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: RequestId,
    pub from: Pid,
    pub service: Pid,
    pub op: OwnedOp,
}

impl OwnedOp {
    /// Kernel heap the request and the largest reply it can get take while in flight.
    pub fn cost(&self) -> usize {
        const ENTRY: usize = 128;
        ENTRY
            + match self {
                OwnedOp::Open { path, .. }
                | OwnedOp::Stat { path }
                | OwnedOp::StatFs { path }
                | OwnedOp::Unlink { path }
                | OwnedOp::Mkdir { path }
                | OwnedOp::Rmdir { path } => path.len(),
                OwnedOp::Rename { from, to } => from.len() + to.len(),
                OwnedOp::Read { len, .. } => *len as usize,
                OwnedOp::Write { data, .. } => data.len(),
                _ => 0,
            }
    }
}

/// The client of a request nobody waits for any more.
const NOBODY: Pid = 0;

/// Who is waiting for a request's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiter {
    client: Pid,
    scheme: SchemeIndex,
    service: Pid,
    /// The request was an `open` (a late success must be closed).
    open: bool,
}

/// The requests in flight and the queue of those not yet delivered.
#[derive(Default)]
pub struct InFlight {
    next: RequestId,
    waiting: BTreeMap<RequestId, Waiter>,
    /// Replies that arrived, until the client's call picks them up.
    replies: BTreeMap<RequestId, (Waiter, OwnedReply)>,
    /// What each client was charged for its request and the reply it may get, given back
    /// when it picks the reply up or is forgotten (`crate::account`).
    /// (A list, not a map: at most one request per run is in flight, and a list keeps its
    /// room, so a request allocates nothing here.)
    charges: Vec<(RequestId, Charge)>,
    outgoing: VecDeque<Outgoing>,
}

impl InFlight {
    /// Queues `op` from `client` for `service`, with what the client was `charge`d for it;
    /// the request's id.
    pub fn send(
        &mut self,
        client: Pid,
        scheme: SchemeIndex,
        service: Pid,
        op: OwnedOp,
        charge: Charge,
    ) -> RequestId {
        let open = matches!(op, OwnedOp::Open { .. });
        let id = self.fresh_id();
        self.charges.push((id, charge));
        self.waiting.insert(
            id,
            Waiter {
                client,
                scheme,
                service,
                open,
            },
        );
        self.outgoing.push_back(Outgoing {
            id,
            from: client,
            service,
            op,
        });
        id
    }

    /// Queues a request nobody waits for (a `close`).
    pub fn post(&mut self, from: Pid, service: Pid, op: OwnedOp) {
        let id = self.fresh_id();
        self.outgoing.push_back(Outgoing {
            id,
            from,
            service,
            op,
        });
    }

    /// Gives back what the client of request `id` was charged.
    fn uncharge(&mut self, id: RequestId) {
        if let Some(i) = self.charges.iter().position(|&(r, _)| r == id) {
            self.charges.swap_remove(i);
        }
    }

    fn fresh_id(&mut self) -> RequestId {
        loop {
            self.next = self.next.wrapping_add(1);
            if !self.waiting.contains_key(&self.next) && !self.replies.contains_key(&self.next) {
                return self.next;
            }
        }
    }

    pub fn take_outgoing(&mut self) -> Option<Outgoing> {
        self.outgoing.pop_front()
    }

    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Stores the reply to `id` from `service`; the client to wake, if one waits. A reply
    /// from another service than the one asked, or for no request, is ignored. A reply whose
    /// client has gone is dropped, and if it opened something, a `close` is queued for it.
    pub fn complete(&mut self, service: Pid, id: RequestId, reply: OwnedReply) -> Option<Pid> {
        let w = *self.waiting.get(&id)?;
        if w.service != service {
            return None;
        }
        self.waiting.remove(&id);
        if w.client == NOBODY {
            self.uncharge(id);
            if let (true, OwnedReply::Done(handle)) = (w.open, &reply) {
                let handle = *handle as RemoteHandle;
                self.post(NOBODY, service, OwnedOp::Close { handle });
            }
            return None;
        }
        self.replies.insert(id, (w, reply));
        Some(w.client)
    }

    /// The reply to `id`, once it came.
    pub fn take_reply(&mut self, id: RequestId) -> Option<OwnedReply> {
        let reply = self.replies.remove(&id).map(|(_, r)| r)?;
        self.uncharge(id);
        Some(reply)
    }

    /// Forgets client `pid` (it ended): replies still to come for it are dropped when they
    /// arrive; ones already here are dropped now (a successful open among them is closed).
    pub fn forget_client(&mut self, pid: Pid) {
        let charges = &mut self.charges;
        for (id, w) in self.waiting.iter_mut().filter(|(_, w)| w.client == pid) {
            w.client = NOBODY;
            charges.retain(|&(r, _)| r != *id);
        }
        let stale: Vec<RequestId> = self
            .replies
            .iter()
            .filter(|(_, (w, _))| w.client == pid)
            .map(|(&id, _)| id)
            .collect();
        for id in stale {
            self.uncharge(id);
            if let Some((w, OwnedReply::Done(handle))) = self.replies.remove(&id)
                && w.open
            {
                let handle = handle as RemoteHandle;
                self.post(NOBODY, w.service, OwnedOp::Close { handle });
            }
        }
    }

    /// Requests in flight (for tests and `ps`).
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}
