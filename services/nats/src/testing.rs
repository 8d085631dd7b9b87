//! Stand-ins for the link's surroundings, for its host tests and the `nats_link` fuzz target
//! (feature `testing`): a transport whose far end is a byte buffer the caller plays the
//! server on, and a host with a clock, boot arguments and a journal that keeps per-origin
//! marks and refuses what the kernel refuses (a full journal, an inbox written by anything
//! but an answer).
#![allow(clippy::indexing_slicing)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use zb_abi::bus::{EventView, ImportedEvent};
use zb_abi::kind::KindId;
use zb_abi::{
    Admin, Bus, Console, Error, EventVisit, Files, Host, ImportReply, MemInfo, Runs, Schemes,
    SysInfo, System,
};

use crate::link::Transport;

/// The wire between the link and the test: what the server sent, what the link wrote.
#[derive(Default)]
pub struct Wire {
    pub to_link: Vec<u8>,
    pub from_link: Vec<u8>,
    pub opens: u32,
    pub open: bool,
    /// The address the link last opened the transport to.
    pub server: String,
}

pub struct FakeTransport(pub Rc<RefCell<Wire>>);

impl Transport for FakeTransport {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn open(&mut self, server: &str, _: &mut dyn Host) -> Result<(), Error> {
        let mut w = self.0.borrow_mut();
        w.server = server.to_string();
        w.opens += 1;
        w.open = true;
        Ok(())
    }
    fn read(&mut self, buf: &mut [u8], _: &mut dyn Host) -> Result<usize, Error> {
        let mut w = self.0.borrow_mut();
        if !w.open {
            return Err(Error::Closed);
        }
        let n = buf.len().min(w.to_link.len());
        buf[..n].copy_from_slice(&w.to_link[..n]);
        w.to_link.drain(..n);
        Ok(n)
    }
    fn write(&mut self, data: &[u8], _: &mut dyn Host) -> Result<usize, Error> {
        let mut w = self.0.borrow_mut();
        if !w.open {
            return Err(Error::Closed);
        }
        w.from_link.extend_from_slice(data);
        Ok(data.len())
    }
    fn close(&mut self, _: &mut dyn Host) {
        self.0.borrow_mut().open = false;
    }
}

/// A stored event: subject, payload, headers, origin.
#[derive(Debug, Clone)]
pub struct Stored {
    pub name: String,
    pub payload: String,
    pub headers: String,
    pub origin: Option<(String, u64)>,
}

/// The host: a clock, a journal with per-origin marks, and boot arguments.
pub struct FakeHost {
    pub now: u64,
    pub args: &'static str,
    pub journal: Vec<Stored>,
    pub full: bool,
    /// What the link wrote to the system log.
    pub logs: Vec<String>,
}

impl FakeHost {
    pub fn new(args: &str) -> FakeHost {
        FakeHost {
            now: 1_000_000,
            args: Box::leak(args.to_string().into_boxed_str()),
            journal: Vec::new(),
            full: false,
            logs: Vec::new(),
        }
    }

    pub fn emit(&mut self, name: &str, payload: &str, headers: &str) {
        self.journal.push(Stored {
            name: name.into(),
            payload: payload.into(),
            headers: headers.into(),
            origin: None,
        });
    }
}

impl Console for FakeHost {
    fn console_write(&mut self, _: &[u8]) {}
}

impl System for FakeHost {
    fn log(&mut self, line: &str) {
        self.logs.push(line.to_string());
    }
    fn clock_us(&self) -> u64 {
        self.now
    }
    fn cycles(&self) -> u64 {
        0
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: "0",
            platform: "x86_64",
            machine: "test",
            profile: "debug",
            boot_us: 0,
        }
    }
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
    fn boot_args(&self) -> &'static str {
        self.args
    }
}

impl Files for FakeHost {}
impl Runs for FakeHost {}
impl Admin for FakeHost {}

impl Schemes for FakeHost {
    fn register_scheme(&mut self, _: &'static str, _: KindId) -> Result<(), Error> {
        Ok(())
    }
}

impl Bus for FakeHost {
    fn watch_events(&mut self, _: &str) -> Result<u32, Error> {
        Ok(0)
    }

    fn import_event(&mut self, e: &ImportedEvent<'_>, reply: ImportReply<'_>) {
        if self.full {
            return reply(Err((Error::NoSpace, "the journal is full")));
        }
        // As the kernel: an inbox is written only by an answer to this node's own request.
        if e.name.starts_with("_INBOX.") && !e.reply {
            return reply(Err((Error::InvalidArgument, "a reply inbox")));
        }
        if e.origin_seq > 0 {
            let applied = self
                .journal
                .iter()
                .filter_map(|s| s.origin.as_ref())
                .filter(|(node, _)| node == e.origin)
                .map(|&(_, seq)| seq)
                .max();
            if let Some(at) = applied.filter(|&seq| seq >= e.origin_seq) {
                return reply(Ok((at, true)));
            }
        }
        self.journal.push(Stored {
            name: e.name.into(),
            payload: String::from_utf8_lossy(e.payload).into_owned(),
            headers: e.headers.into(),
            origin: (e.origin_seq > 0).then(|| (e.origin.to_string(), e.origin_seq)),
        });
        reply(Ok((self.journal.len() as u64, false)));
    }

    fn read_events(&mut self, from: u64, max: usize, visit: EventVisit<'_>) -> Result<u64, Error> {
        let from = from.max(1);
        let mut next = from.min(self.journal.len() as u64 + 1);
        for (i, s) in self
            .journal
            .iter()
            .enumerate()
            .skip(next as usize - 1)
            .take(max)
        {
            let seq = i as u64 + 1;
            let source = if s.origin.is_some() {
                "node:x"
            } else {
                "run:1 t"
            };
            let view = EventView {
                seq,
                ts_us: 5,
                correlation_id: 0,
                causation_id: 0,
                version: 1,
                attempt: 1,
                name: &s.name,
                source,
                tenant: "",
                headers: &s.headers,
                payload: s.payload.as_bytes(),
            };
            visit(&view, s.origin.as_ref().map(|(n, q)| (n.as_str(), *q)));
            next = seq + 1;
        }
        Ok(next)
    }
}
