//! The process calls served with the kernel at hand: `spawn` (a child, with the handles the
//! caller grants it), `wait` (a child's status, reaping it) and `close` of a handle whose
//! object the kernel must let go of (a remote file, a subscription).
//!
//! Like every call family, these get a call the gate decoded (`crate::gate`); a call that
//! fails or blocks has changed nothing.

use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::call::{Buf, HandleArg};
use zb_abi::syscall::{GRANT_SIZE, Grant};
use zb_abi::{Error, Pid, Rights};

use crate::cap::Handle;
use crate::kernel::Kernel;
use crate::run::WaitReason;
use crate::run_table::live;
use crate::sys::{Outcome, check_transfer, encode};

type Served = Result<Outcome, Error>;

impl Kernel {
    /// `spawn`: starts a child of run `pid`, moving the granted handles into it.
    pub(crate) fn spawn_call(&mut self, pid: Pid, name: Buf, args: Buf, grants: Buf) -> Served {
        let (name, args, wanted, grants) = {
            let (mem, data) = live(&mut self.runs, pid)?.parts();
            let name = String::from(name.text(mem)?);
            let args = args.of(mem).to_vec();
            if args.last().is_some_and(|&b| b != 0) {
                return Err(Error::InvalidArgument);
            }
            let raw = grants.of(mem);
            let mut wanted = Vec::with_capacity(raw.len() / GRANT_SIZE);
            for entry in raw.as_chunks::<GRANT_SIZE>().0 {
                let g = Grant::from_bytes(*entry);
                let rights = Rights::from_bits(g.rights).ok_or(Error::InvalidArgument)?;
                wanted.push((Handle(g.handle), rights));
            }
            let grants = check_transfer(&data.sys.handles, &wanted)?;
            (name, args, wanted, grants)
        };
        self.can_spawn(pid, &name, grants.len())?;
        // All checked: move the handles out of the caller, then start the child.
        let handles = &mut live(&mut self.runs, pid)?.data_mut().sys.handles;
        for &(h, _) in &wanted {
            let _ = handles.remove(h);
        }
        match self.spawn(pid, &name, args, grants) {
            Ok(child) => Ok(Outcome::Reply(i64::from(child))),
            Err((e, grants)) => {
                // Not reached (`can_spawn` checked the same conditions); if it were, the
                // handles are released rather than leaked.
                for (object, _) in grants {
                    self.release(object);
                }
                Err(e)
            }
        }
    }

    /// `close` on the kernel's side (a remote handle's handler must be told).
    pub(crate) fn close_call(&mut self, pid: Pid, h: HandleArg) -> Served {
        let (object, _) = live(&mut self.runs, pid)?
            .data_mut()
            .sys
            .handles
            .remove(Handle(h))?;
        self.release(object);
        Ok(Outcome::Reply(0))
    }

    /// `wait`: child `child`'s status once it has ended (reaping it).
    pub(crate) fn wait_call(&mut self, pid: Pid, child: Pid) -> Served {
        let status = match self.runs.get(child) {
            Some(c) if c.parent == pid && c.pid != pid => c.state.status().cloned(),
            _ => return Err(Error::NotFound),
        };
        match status {
            None => Ok(Outcome::Block(WaitReason::Child { pid: child })),
            Some(status) => {
                self.runs.reap(child);
                Ok(Outcome::Reply(encode(&status)))
            }
        }
    }
}
