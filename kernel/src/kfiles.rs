//! The schemes the kernel serves itself: `proc://` (runs) and `mem://` (memory).
//!
//! Opening one of their files takes a snapshot of its text at that moment; reads walk the
//! snapshot, so a reader sees one consistent state even while runs come and go. Directories
//! (`proc://`, `proc://3`, `mem://`) list their entries like a `file://` directory.
//!
//! Files:
//! - `proc://log` is the system log (what `dmesg` shows); `proc://bus` the event bus's
//!   counters (`key: value` lines) and a line per view (`view <name>: height N, sealed at N,
//!   resident|paged out|stopped`).
//! - `proc://` lists `log`, `self` and every pid; `proc://<pid>` lists `status`;
//!   `proc://<pid>/status` (and `proc://self/status`) is the run as `ps` shows it, in
//!   `key: value` lines ([`zb_abi::RunInfo::write_status`]).
//! - `mem://` lists `heap`, `ram` and, with paging, `frames`; `mem://heap` is
//!   `used/free/total` in bytes, `mem://frames` `used/total/frame_size`, `mem://ram` `total`.
//!
//! Invariants: everything here is read-only (a write open is `ReadOnly`); open snapshots are
//! bounded ([`MAX_OPEN`]), so a run cannot grow the kernel heap by opening files in a loop.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use zb_abi::scheme::{FileKind, Op, OpenFlags, RemoteHandle, Stat, Whence, encode_dirent};
use zb_abi::{Error, MemInfo, Pid};

use crate::account::{Account, Charge};
use crate::request::OwnedReply;
use crate::run_table::RunTable;
use crate::scheme::KernelScheme;

/// Most snapshots open at once, over all clients.
pub const MAX_OPEN: usize = 64;
/// Most snapshots one run may hold open (its share of [`MAX_OPEN`]).
pub const RUN_SHARE: usize = 8;
/// Snapshots kept for the system's own clients (the shell, the services): runs together hold
/// at most `MAX_OPEN - SYSTEM_RESERVE`, so `ps`, `dmesg` and `mem` always work.
pub const SYSTEM_RESERVE: usize = 16;

/// Who opens a snapshot: a run pays for it and has a share; the system has its reserve.
pub struct Client<'a> {
    pub pid: Pid,
    /// The run's account (`None`: a native service or the kernel).
    pub account: Option<&'a Rc<Account>>,
}

/// What the kernel files are made from: the kernel's state as the files show it.
pub struct KernelState<'a> {
    pub runs: &'a RunTable,
    pub memory: Option<MemInfo>,
    /// The system log, oldest line first.
    pub log: &'a alloc::collections::VecDeque<String>,
    /// The event bus, if the journal is open.
    pub bus: Option<&'a crate::bus::EventBus>,
}

enum Body {
    Text(Vec<u8>),
    Dir(Vec<(FileKind, String)>),
}

struct Snapshot {
    body: Body,
    /// Byte offset (text) or entry index (directory).
    pos: usize,
    /// Who opened it (a run's snapshots count against its share).
    owner: Option<Pid>,
    /// What its owner was charged for the body.
    _charge: Charge,
}

#[derive(Default)]
pub struct KernelFiles {
    open: Vec<Option<Snapshot>>,
}

impl KernelFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Open snapshots (for tests).
    pub fn open_count(&self) -> usize {
        self.open.iter().flatten().count()
    }

    /// Serves one operation from `client`.
    pub fn serve(
        &mut self,
        scheme: KernelScheme,
        client: &Client<'_>,
        op: Op<'_>,
        state: &KernelState<'_>,
    ) -> OwnedReply {
        match self.try_serve(scheme, client, op, state) {
            Ok(r) => r,
            Err(e) => OwnedReply::Err(e),
        }
    }

    /// A free slot for a snapshot `client` opens, within its share; `Busy` if none.
    fn slot_for(&mut self, client: &Client<'_>) -> Result<usize, Error> {
        if client.account.is_some() {
            let runs = self.open.iter().flatten().filter(|s| s.owner.is_some());
            let mine = runs.clone().filter(|s| s.owner == Some(client.pid)).count();
            if mine >= RUN_SHARE || runs.count() >= MAX_OPEN - SYSTEM_RESERVE {
                return Err(Error::Busy);
            }
        }
        match self.open.iter().position(Option::is_none) {
            Some(i) => Ok(i),
            None if self.open.len() < MAX_OPEN => {
                self.open.push(None);
                Ok(self.open.len() - 1)
            }
            None => Err(Error::Busy),
        }
    }

    fn try_serve(
        &mut self,
        scheme: KernelScheme,
        client: &Client<'_>,
        op: Op<'_>,
        view: &KernelState<'_>,
    ) -> Result<OwnedReply, Error> {
        let from = client.pid;
        match op {
            Op::Open { path, flags, .. } => {
                if flags.intersects(OpenFlags::WRITE) {
                    return Err(Error::ReadOnly);
                }
                let body = build(scheme, from, path, view)?;
                let is_dir = matches!(body, Body::Dir(_));
                if is_dir != flags.contains(OpenFlags::DIRECTORY) {
                    return Err(if is_dir {
                        Error::IsADirectory
                    } else {
                        Error::NotADirectory
                    });
                }
                let slot = self.slot_for(client)?;
                let charge = match client.account {
                    Some(account) => account.charge(body_bytes(&body)).map_err(|(e, _)| e)?,
                    None => Charge::none(),
                };
                let owner = client.account.map(|_| from);
                self.open[slot] = Some(Snapshot {
                    body,
                    pos: 0,
                    owner,
                    _charge: charge,
                });
                Ok(OwnedReply::Done(slot as u64))
            }
            Op::Read { handle, len } => {
                let snap = self.get(handle)?;
                let len = len as usize;
                match &snap.body {
                    Body::Text(t) => {
                        let start = snap.pos.min(t.len());
                        let end = start + len.min(t.len() - start);
                        let data = t[start..end].to_vec();
                        snap.pos = end;
                        Ok(OwnedReply::Data(data))
                    }
                    Body::Dir(entries) => {
                        let mut out = alloc::vec![0u8; len];
                        let mut at = 0;
                        while let Some((kind, name)) = entries.get(snap.pos) {
                            match encode_dirent(&mut out, at, *kind, name) {
                                Some(next) => at = next,
                                None if at == 0 => return Err(Error::TooLarge),
                                None => break,
                            }
                            snap.pos += 1;
                        }
                        out.truncate(at);
                        Ok(OwnedReply::Data(out))
                    }
                }
            }
            Op::Seek {
                handle,
                offset,
                whence,
            } => {
                let snap = self.get(handle)?;
                let Body::Text(t) = &snap.body else {
                    return Err(Error::IsADirectory);
                };
                let base = match whence {
                    Whence::Start => 0,
                    Whence::Current => snap.pos as i64,
                    Whence::End => t.len() as i64,
                };
                let pos = base.checked_add(offset).ok_or(Error::InvalidArgument)?;
                if pos < 0 {
                    return Err(Error::InvalidArgument);
                }
                snap.pos = pos as usize;
                Ok(OwnedReply::Done(pos as u64))
            }
            Op::Close { handle } => {
                self.get(handle)?;
                self.open[handle as usize] = None;
                Ok(OwnedReply::Done(0))
            }
            Op::StatHandle { handle } => Ok(OwnedReply::Stat(stat_of(&self.get(handle)?.body))),
            Op::Stat { path } => Ok(OwnedReply::Stat(stat_of(&build(scheme, from, path, view)?))),
            Op::Write { .. }
            | Op::Unlink { .. }
            | Op::Mkdir { .. }
            | Op::Rmdir { .. }
            | Op::Rename { .. } => Err(Error::ReadOnly),
            Op::StatFs { .. } => Err(Error::Unsupported),
        }
    }

    fn get(&mut self, handle: RemoteHandle) -> Result<&mut Snapshot, Error> {
        self.open
            .get_mut(handle as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::BadHandle)
    }
}

/// Heap bytes a snapshot's body takes (what its owner is charged).
fn body_bytes(body: &Body) -> usize {
    let size = core::mem::size_of::<Snapshot>();
    match body {
        Body::Text(t) => size + t.capacity(),
        Body::Dir(d) => {
            size + d
                .iter()
                .map(|(_, n)| n.capacity() + core::mem::size_of::<(FileKind, String)>())
                .sum::<usize>()
        }
    }
}

fn stat_of(body: &Body) -> Stat {
    let (kind, size) = match body {
        Body::Text(t) => (FileKind::Special, t.len() as u64),
        Body::Dir(d) => (FileKind::Dir, d.len() as u64),
    };
    Stat {
        kind,
        size,
        read_only: true,
        mtime: 0,
    }
}

/// The contents of `path` in `scheme`, now.
fn build(
    scheme: KernelScheme,
    from: Pid,
    path: &str,
    view: &KernelState<'_>,
) -> Result<Body, Error> {
    let path = path.trim_matches('/');
    match scheme {
        KernelScheme::Proc if path == "log" => {
            let mut text = String::new();
            for line in view.log {
                text.push_str(line);
                text.push('\n');
            }
            Ok(Body::Text(text.into_bytes()))
        }
        KernelScheme::Proc if path == "bus" => {
            let bus = view.bus.ok_or(Error::NotFound)?;
            let (s, medium) = (bus.stats(), bus.medium);
            let mut text = String::new();
            let _ = write!(
                text,
                "journal: {medium}\nemitted: {}\nduplicates: {}\ncommits: {}\ndelivered: {}\nsubscriptions: {}\nfirst_seq: {}\nlast_seq: {}\n",
                s.emitted,
                s.duplicates,
                s.commits,
                s.delivered,
                s.subscriptions,
                s.first_seq,
                s.last_seq
            );
            for (name, height, sealed, state) in bus.views() {
                let _ = writeln!(
                    text,
                    "view {name}: height {height}, sealed at {sealed}, {state}"
                );
            }
            // What keeps old events in the journal, oldest first, and since when (kernel
            // time; an abandoned consumer or a view never sealed shows here).
            let _ = writeln!(text, "retention_floor: {}", bus.retention_floor());
            let _ = writeln!(text, "skipped_unreadable: {}", bus.journal_undecodable());
            for (what, from, since_us) in bus.floor_holders() {
                let since = match since_us {
                    0 => String::from("before this boot"),
                    us => alloc::format!("{}.{:03} s after boot", us / 1_000_000, us / 1000 % 1000),
                };
                let _ = writeln!(text, "holds from {from}: {what} (since {since})");
            }
            Ok(Body::Text(text.into_bytes()))
        }
        KernelScheme::Proc => proc_file(from, path, view.runs),
        KernelScheme::Mem => mem_file(path, view.memory.as_ref()),
    }
}

fn proc_file(from: Pid, path: &str, runs: &RunTable) -> Result<Body, Error> {
    if path.is_empty() {
        let mut entries = Vec::from([
            (FileKind::Special, String::from("bus")),
            (FileKind::Special, String::from("log")),
            (FileKind::Dir, String::from("self")),
        ]);
        for run in runs.iter() {
            entries.push((FileKind::Dir, alloc::format!("{}", run.pid)));
        }
        return Ok(Body::Dir(entries));
    }
    let (who, rest) = path.split_once('/').unwrap_or((path, ""));
    let pid = match who {
        "self" => from,
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<Pid>().map_err(|_| Error::NotFound)?
        }
        _ => return Err(Error::NotFound),
    };
    let run = runs.get(pid).ok_or(Error::NotFound)?;
    match rest.trim_matches('/') {
        "" => Ok(Body::Dir(Vec::from([(
            FileKind::Special,
            String::from("status"),
        )]))),
        "status" => {
            let mut text = String::new();
            let _ = run.info().write_status(&mut text);
            if let Some(task) = &run.task {
                let account = &task.data().sys.account;
                let _ = writeln!(text, "kmem: {}", account.used());
                let _ = writeln!(text, "kmem_quota: {}", account.quota());
                // Of both: what its load took (instance, and code compiled for it).
                let _ = writeln!(text, "kmem_loaded: {}", account.loaded());
            }
            Ok(Body::Text(text.into_bytes()))
        }
        _ => Err(Error::NotFound),
    }
}

fn mem_file(path: &str, memory: Option<&MemInfo>) -> Result<Body, Error> {
    let m = memory.ok_or(Error::Unsupported)?;
    let mut text = String::new();
    match path {
        "" => {
            let mut entries = Vec::from([
                (FileKind::Special, String::from("heap")),
                (FileKind::Special, String::from("ram")),
            ]);
            if m.frames.is_some() {
                entries.push((FileKind::Special, String::from("frames")));
            }
            return Ok(Body::Dir(entries));
        }
        "heap" => {
            let _ = write!(
                text,
                "used: {}\nfree: {}\ntotal: {}\n",
                m.heap.used, m.heap.free, m.heap.total
            );
        }
        "ram" => {
            let _ = writeln!(text, "total: {}", m.ram_total);
        }
        "frames" => {
            let f = m.frames.ok_or(Error::NotFound)?;
            let _ = write!(
                text,
                "used: {}\ntotal: {}\nframe_size: {}\n",
                f.used, f.total, f.frame_size
            );
        }
        _ => return Err(Error::NotFound),
    }
    Ok(Body::Text(text.into_bytes()))
}
