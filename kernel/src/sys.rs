//! HOST call service: what each import of `zb_abi::syscall` does, for run `pid`.
//!
//! This is the one place where numbers from a run become memory ranges, handles or pids. Every
//! `(ptr, len)` goes through [`checked_range`]; every handle through the run's
//! [`HandleTable`](crate::cap::HandleTable) with the right it needs. Any bad argument is an
//! error code to the run. A call that fails or blocks has changed nothing (checks come before
//! effects), which is what lets a parked call be retried.

use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::syscall::{
    GRANT_SIZE, Grant, MAX_ARGS, MAX_GRANTS, MAX_NAME, MAX_WRITE, NONBLOCK, STDERR, STDOUT,
    StatusKind, checked_range, encode_status, nr, recv_result,
};
use zb_abi::{Error, Pid, Rights};

use crate::cap::Handle;
use crate::ipc::{End, MAX_MESSAGE, MAX_MESSAGE_HANDLES, Message};
use crate::kernel::{Event, Kernel, Outcome};
use crate::object::{CHANNEL_RIGHTS, Object};
use crate::run::{ExitStatus, Run, WaitReason};
use crate::task::Syscall;

type Served = Result<Outcome, Error>;

impl Kernel {
    /// Serves `sys` for run `pid` (which is in EXEC).
    pub(crate) fn syscall(&mut self, pid: Pid, sys: &Syscall) -> Outcome {
        let a = sys.args;
        let served = match sys.number {
            nr::YIELD => Ok(Outcome::Yield),
            nr::GETPID => Ok(Outcome::Reply(i64::from(pid))),
            nr::CLOCK => Ok(Outcome::Reply(self.clock.now_us() as i64)),
            nr::SLEEP => self.sleep(a[0]),
            nr::WRITE => self.write(pid, a[0], a[1], a[2]),
            nr::ARGS => self.args(pid, a[0], a[1]),
            nr::GRANTS => self.grants(pid, a[0], a[1]),
            nr::SPAWN => self.spawn_call(pid, a),
            nr::WAIT => self.wait(pid, a[0]),
            nr::CHANNEL_CREATE => self.channel_create(pid, a[0]),
            nr::SEND => self.send(pid, a),
            nr::RECV => self.recv(pid, a),
            nr::CLOSE => self.close(pid, a[0]),
            _ => Err(Error::Unsupported),
        };
        served.unwrap_or_else(Outcome::err)
    }

    fn sleep(&mut self, us: i64) -> Served {
        match us {
            ..0 => Err(Error::InvalidArgument),
            0 => Ok(Outcome::Yield),
            us => {
                let until_us = self.clock.now_us().saturating_add(us as u64);
                Ok(Outcome::Block(WaitReason::Sleep { until_us }))
            }
        }
    }

    fn write(&mut self, pid: Pid, stream: i64, ptr: i64, len: i64) -> Served {
        if stream != i64::from(STDOUT) && stream != i64::from(STDERR) {
            return Err(Error::InvalidArgument);
        }
        let run = live(&mut self.runs, pid)?;
        let bytes = read_mem(run, ptr, len, MAX_WRITE)?.to_vec();
        let n = bytes.len() as i64;
        if !bytes.is_empty() {
            self.events.push_back(Event::Output {
                pid,
                stream: stream as i32,
                bytes,
            });
        }
        Ok(Outcome::Reply(n))
    }

    fn args(&mut self, pid: Pid, ptr: i64, cap: i64) -> Served {
        let run = live(&mut self.runs, pid)?;
        if cap < 0 {
            return Err(Error::InvalidArgument);
        }
        let total = run.args.len();
        let n = total.min(cap as usize);
        let Run { task, args, .. } = run;
        let mem = task.as_mut().ok_or(Error::BadHandle)?.memory_mut();
        let range = checked_range(ptr, n as i64, mem.len(), usize::MAX)?;
        mem[range].copy_from_slice(&args[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    fn grants(&mut self, pid: Pid, ptr: i64, cap: i64) -> Served {
        let run = live(&mut self.runs, pid)?;
        if cap < 0 {
            return Err(Error::InvalidArgument);
        }
        let total = run.granted.len();
        let n = total.min(cap as usize);
        let Run { task, granted, .. } = run;
        let mem = task.as_mut().ok_or(Error::BadHandle)?.memory_mut();
        let range = checked_range(ptr, (n * 4) as i64, mem.len(), usize::MAX)?;
        write_handles(&mut mem[range], &granted[..n]);
        Ok(Outcome::Reply(total as i64))
    }

    fn spawn_call(&mut self, pid: Pid, a: [i64; 6]) -> Served {
        let run = live(&mut self.runs, pid)?;
        let name = read_mem(run, a[0], a[1], MAX_NAME)?;
        let name = String::from(core::str::from_utf8(name).map_err(|_| Error::InvalidArgument)?);
        let args = read_mem(run, a[2], a[3], MAX_ARGS)?.to_vec();
        if args.last().is_some_and(|&b| b != 0) {
            return Err(Error::InvalidArgument);
        }
        if a[5] < 0 {
            return Err(Error::InvalidArgument);
        }
        if a[5] > MAX_GRANTS as i64 {
            return Err(Error::TooLarge);
        }
        let raw = read_mem(run, a[4], a[5] * GRANT_SIZE as i64, MAX_GRANTS * GRANT_SIZE)?;
        let mut wanted = Vec::with_capacity(raw.len() / GRANT_SIZE);
        for entry in raw.chunks_exact(GRANT_SIZE) {
            let mut b = [0; GRANT_SIZE];
            b.copy_from_slice(entry);
            let g = Grant::from_bytes(b);
            let rights = Rights::from_bits(g.rights).ok_or(Error::InvalidArgument)?;
            wanted.push((Handle(g.handle), rights));
        }
        let grants = Kernel::check_transfer(&run.handles, &wanted)?;
        self.can_spawn(&name, grants.len())?;
        // All checked: move the handles out of the caller, then start the child.
        let run = live(&mut self.runs, pid)?;
        for &(h, _) in &wanted {
            let _ = run.handles.remove(h);
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

    fn wait(&mut self, pid: Pid, child: i64) -> Served {
        let child = Pid::try_from(child).map_err(|_| Error::NotFound)?;
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

    fn channel_create(&mut self, pid: Pid, out: i64) -> Served {
        let run = live(&mut self.runs, pid)?;
        let Run { task, handles, .. } = run;
        let mem = task.as_mut().ok_or(Error::BadHandle)?.memory_mut();
        let range = checked_range(out, 8, mem.len(), 8)?;
        if handles.room() < 2 {
            return Err(Error::OutOfMemory);
        }
        let id = self.channels.create(self.config.channel_capacity);
        let a = Object::ChannelEnd {
            channel: id,
            end: End::A,
        };
        let b = Object::ChannelEnd {
            channel: id,
            end: End::B,
        };
        // Cannot fail: two free slots were checked above.
        let ha = handles.insert(a, CHANNEL_RIGHTS)?;
        let hb = handles.insert(b, CHANNEL_RIGHTS)?;
        write_handles(&mut mem[range], &[ha, hb]);
        Ok(Outcome::Reply(0))
    }

    fn send(&mut self, pid: Pid, a: [i64; 6]) -> Served {
        let nonblock = nonblocking(a[5])?;
        let run = live(&mut self.runs, pid)?;
        let h = handle_arg(a[0])?;
        let Object::ChannelEnd { channel, end } = *run.handles.get(h, Rights::WRITE)?;
        let bytes = read_mem(run, a[1], a[2], MAX_MESSAGE)?.to_vec();
        if a[4] < 0 {
            return Err(Error::InvalidArgument);
        }
        if a[4] > MAX_MESSAGE_HANDLES as i64 {
            return Err(Error::TooLarge);
        }
        let raw = read_mem(run, a[3], a[4] * 4, MAX_MESSAGE_HANDLES * 4)?;
        let moving: Vec<(Handle, Rights)> = raw
            .chunks_exact(4)
            .map(|c| {
                (
                    Handle(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    Rights::empty(),
                )
            })
            .collect();
        if moving.iter().any(|&(m, _)| m == h) {
            return Err(Error::InvalidArgument);
        }
        let transit = Kernel::check_transfer(&run.handles, &moving)?;
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        match chan.can_send(end)? {
            true => {}
            false if nonblock => return Err(Error::WouldBlock),
            false => return Ok(Outcome::Block(WaitReason::Channel { channel })),
        }
        for &(m, _) in &moving {
            let _ = run.handles.remove(m);
        }
        let message = Message {
            bytes,
            handles: transit,
        };
        // Cannot fail: size and space were checked above.
        if let Err((e, back)) = chan.send(end, message) {
            for (object, _) in back.handles {
                self.release(object);
            }
            return Err(e);
        }
        self.wake_channels(&[channel]);
        Ok(Outcome::Reply(0))
    }

    fn recv(&mut self, pid: Pid, a: [i64; 6]) -> Served {
        let nonblock = nonblocking(a[5])?;
        let run = live(&mut self.runs, pid)?;
        let h = handle_arg(a[0])?;
        let Object::ChannelEnd { channel, end } = *run.handles.get(h, Rights::READ)?;
        let Run { task, handles, .. } = run;
        let mem = task.as_mut().ok_or(Error::BadHandle)?.memory_mut();
        let bytes_range = checked_range(a[1], a[2], mem.len(), usize::MAX)?;
        if a[4] < 0 {
            return Err(Error::InvalidArgument);
        }
        let hcap = (a[4] as u64).min(MAX_MESSAGE_HANDLES as u64) as i64;
        let handles_range = checked_range(a[3], hcap * 4, mem.len(), usize::MAX)?;
        let chan = self.channels.get_mut(channel).ok_or(Error::BadHandle)?;
        let next = match chan.peek(end) {
            Ok(m) => m,
            Err(Error::WouldBlock) if !nonblock => {
                return Ok(Outcome::Block(WaitReason::Channel { channel }));
            }
            Err(e) => return Err(e),
        };
        if next.bytes.len() > bytes_range.len() || next.handles.len() * 4 > handles_range.len() {
            return Err(Error::TooLarge);
        }
        if next.handles.len() > handles.room() {
            return Err(Error::OutOfMemory);
        }
        let message = chan.recv(end)?;
        let n = message.bytes.len();
        mem[bytes_range.start..bytes_range.start + n].copy_from_slice(&message.bytes);
        let mut received = Vec::with_capacity(message.handles.len());
        for (object, rights) in message.handles {
            // Cannot fail: room was checked above.
            received.push(handles.insert(object, rights)?);
        }
        let hstart = handles_range.start;
        write_handles(&mut mem[hstart..hstart + received.len() * 4], &received);
        self.wake_channels(&[channel]);
        Ok(Outcome::Reply(recv_result(n, received.len())))
    }

    fn close(&mut self, pid: Pid, h: i64) -> Served {
        let run = live(&mut self.runs, pid)?;
        let (object, _) = run.handles.remove(handle_arg(h)?)?;
        self.release(object);
        Ok(Outcome::Reply(0))
    }
}

/// The run, if it is a live wasm run.
fn live(runs: &mut crate::run::RunTable, pid: Pid) -> Result<&mut Run, Error> {
    runs.get_mut(pid)
        .filter(|r| r.task.is_some())
        .ok_or(Error::BadHandle)
}

/// The bytes `(ptr, len)` of the run's memory, checked.
fn read_mem(run: &Run, ptr: i64, len: i64, limit: usize) -> Result<&[u8], Error> {
    let mem = run.task.as_ref().ok_or(Error::BadHandle)?.memory();
    let range = checked_range(ptr, len, mem.len(), limit)?;
    Ok(&mem[range])
}

fn write_handles(out: &mut [u8], handles: &[Handle]) {
    for (chunk, h) in out.chunks_exact_mut(4).zip(handles) {
        chunk.copy_from_slice(&h.0.to_le_bytes());
    }
}

/// Handles are `u32` values passed in an `i32`.
fn handle_arg(v: i64) -> Result<Handle, Error> {
    Ok(Handle(v as u32))
}

/// The `flags` of `send`/`recv`: whether [`NONBLOCK`] is set; unknown bits are refused.
fn nonblocking(flags: i64) -> Result<bool, Error> {
    if flags & !i64::from(NONBLOCK) != 0 {
        Err(Error::InvalidArgument)
    } else {
        Ok(flags != 0)
    }
}

/// A status as `wait` returns it.
pub(crate) fn encode(status: &ExitStatus) -> i64 {
    match status {
        ExitStatus::Ok(code) => encode_status(StatusKind::Ok, *code),
        ExitStatus::Panic(_) => encode_status(StatusKind::Panic, 0),
        ExitStatus::Invalid(_) => encode_status(StatusKind::Invalid, 0),
        ExitStatus::Rejected(_) => encode_status(StatusKind::Rejected, 0),
    }
}
