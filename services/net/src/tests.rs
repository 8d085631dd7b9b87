//! The service as the kernel drives it, on a fake card and a clock the test moves: the shares
//! of the socket pool, and the bound on connections saying goodbye.
extern crate std;

use core::cell::{Cell, RefCell};
use std::boxed::Box;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec::Vec;

use zb_abi::scheme::{Answer, Op, OpenFlags, Reply, Request, RequestId};
use zb_abi::syscall::StatusKind;
use zb_abi::{
    Admin, Bus, Console, Error, ExitView, Files, MemInfo, NativeService, NetDev, NetDeviceInfo,
    Pid, RunInfo, RunKind, Runs, Schemes, StateName, SysInfo, System,
};

use super::*;

/// A card whose frames come back to it (the service talks to itself at 10.0.2.15), unless
/// `mute`d: then what it sends is lost.
#[derive(Clone, Default)]
struct Loop {
    frames: Rc<RefCell<VecDeque<Vec<u8>>>>,
    mute: Rc<Cell<bool>>,
}

impl NetDev for Loop {
    fn info(&self) -> NetDeviceInfo {
        NetDeviceInfo {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            mtu: 1500,
            driver: "loop",
        }
    }
    fn send(&self, frame: &[u8]) -> Result<(), Error> {
        if !self.mute.get() {
            self.frames.borrow_mut().push_back(frame.to_vec());
        }
        Ok(())
    }
    fn receive(&self, buf: &mut [u8]) -> Option<usize> {
        let frame = self.frames.borrow_mut().pop_front()?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Some(n)
    }
}

/// A host with a clock the test moves, keeping the replies of requests answered later.
/// (Also the status server's tests' host: `runs` made-up runs make a `/runs` page of any size.)
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) now: u64,
    pub(crate) runs: usize,
    pub(crate) replies: Vec<(RequestId, Result<u64, Error>)>,
}

impl Console for Fake {
    fn console_write(&mut self, _: &[u8]) {}
}
impl System for Fake {
    fn log(&mut self, _: &str) {}
    fn clock_us(&self) -> u64 {
        self.now
    }
    fn cycles(&self) -> u64 {
        self.now
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: "test",
            platform: "test",
            machine: "test",
            profile: "debug",
            boot_us: 0,
        }
    }
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
}
impl Files for Fake {}
impl Runs for Fake {
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        for pid in 0..self.runs {
            visit(&RunInfo {
                pid: pid as Pid,
                parent: 1,
                kind: RunKind::Wasm,
                name: "a-run-with-a-name-long-enough",
                state: StateName::Done,
                wait: None,
                memory: 0,
                fuel: 1234,
                exit: Some(ExitView {
                    kind: StatusKind::Rejected,
                    code: 0,
                    message: "said \"no\"",
                }),
            });
        }
    }
}
impl Bus for Fake {}
impl Admin for Fake {}
impl Schemes for Fake {
    fn register_scheme(&mut self, _: &'static str, _: zb_abi::kind::KindId) -> Result<(), Error> {
        Ok(())
    }
    fn reply(&mut self, id: RequestId, reply: Reply<'_>) {
        let r = match reply {
            Reply::Done(n) => Ok(n),
            Reply::Data(d) => Ok(d.len() as u64),
            Reply::Err(e) => Err(e),
            _ => Err(Error::Unsupported),
        };
        self.replies.push((id, r));
    }
}

fn open_op(url: &str) -> Op<'_> {
    let (scheme, path) = url.split_once("://").unwrap();
    let flags = OpenFlags::READ | OpenFlags::WRITE;
    Op::Open {
        scheme,
        path,
        flags,
    }
}

struct Bench {
    svc: NetService,
    host: Fake,
    card: Loop,
    next_id: RequestId,
}

impl Bench {
    /// The service started on a looped card, with its static address (no DHCP answers).
    fn new() -> Bench {
        let card = Loop::default();
        let mut b = Bench {
            svc: NetService::new(Some(Box::new(card.clone()))),
            host: Fake::default(),
            card,
            next_id: 1,
        };
        b.svc.start(&mut b.host);
        b.run_for(DHCP_WAIT_US + 10_000);
        assert_eq!(b.svc.source, Source::Static);
        b
    }

    fn run_for(&mut self, us: u64) {
        let end = self.host.now + us;
        while self.host.now < end {
            self.host.now = (self.host.now + 1_000).min(end);
            self.svc.tick(&mut self.host);
        }
    }

    /// A request from `from`: its id, and its reply if it was answered at once.
    fn request(&mut self, from: Pid, op: Op<'_>) -> (RequestId, Option<Result<u64, Error>>) {
        let id = self.next_id;
        self.next_id += 1;
        let now = match self.svc.request(Request { id, from, op }, &mut self.host) {
            Answer::Now(Reply::Done(n)) => Some(Ok(n)),
            Answer::Now(Reply::Data(d)) => Some(Ok(d.len() as u64)),
            Answer::Now(Reply::Err(e)) => Some(Err(e)),
            Answer::Now(_) => Some(Err(Error::Unsupported)),
            Answer::Later => None,
        };
        (id, now)
    }

    /// The reply to request `id`, answered later: waited for, a second at most.
    fn wait(&mut self, id: RequestId) -> Result<u64, Error> {
        for _ in 0..1000 {
            if let Some(&(_, r)) = self.host.replies.iter().find(|(i, _)| *i == id) {
                return r;
            }
            self.run_for(1_000);
        }
        panic!("request {id} was never answered");
    }

    fn ask(&mut self, from: Pid, op: Op<'_>) -> Result<u64, Error> {
        match self.request(from, op) {
            (_, Some(r)) => r,
            (id, None) => self.wait(id),
        }
    }

    fn open(&mut self, from: Pid, url: &str) -> Result<u32, Error> {
        self.ask(from, open_op(url)).map(|h| h as u32)
    }

    fn close(&mut self, from: Pid, handle: u32) {
        assert_eq!(self.ask(from, Op::Close { handle }), Ok(0));
    }

    fn status_listening(&self) -> usize {
        let status = self.svc.status.as_ref().unwrap();
        status.listening(&self.svc.sockets)
    }
}

#[test]
fn each_run_gets_a_share_and_the_system_keeps_its_room() {
    let mut b = Bench::new();
    let all = b.status_listening();
    assert!(all > MAX_PER_RUN);
    // A run may not take the status server's port.
    assert_eq!(
        b.open(9, "tcp://0.0.0.0:80?listen"),
        Err(Error::AddressInUse)
    );
    // Run 10 takes its share, of every kind of handle...
    let mut held = Vec::new();
    for i in 0..MAX_PER_RUN - 2 {
        held.push(
            b.open(10, &std::format!("udp://0.0.0.0:{}?listen", 5000 + i))
                .unwrap(),
        );
    }
    // (A listener's open is answered when a client comes: it holds its slot meanwhile.)
    let (_, answer) = b.request(10, open_op("tcp://0.0.0.0:9000?listen"));
    assert_eq!(answer, None);
    held.push(b.open(10, "net://if").unwrap());
    // ...and no more: Busy, whatever it opens.
    for url in [
        "udp://0.0.0.0:6000?listen",
        "tcp://0.0.0.0:9001?listen",
        "tcp://10.0.2.2:7000",
        "net://sockets",
        "net://ping/10.0.2.2",
    ] {
        assert_eq!(b.open(10, url), Err(Error::Busy), "{url}");
    }
    // Others still get theirs, until the service holds all it may.
    for pid in 11..(10 + (MAX_CONNS / MAX_PER_RUN) as Pid) {
        for i in 0..MAX_PER_RUN {
            let url = std::format!("udp://0.0.0.0:{}?listen", 7000 + 100 * pid as usize + i);
            b.open(pid, &url).unwrap();
        }
    }
    assert_eq!(b.open(99, "net://if"), Err(Error::OutOfMemory));
    // A handle closed is room again: for anyone under their share.
    b.close(10, held[0]);
    let h = b.open(99, "net://if").unwrap();
    assert_eq!(b.open(10, "net://if"), Err(Error::OutOfMemory));
    b.close(99, h);
    assert!(b.open(10, "net://if").is_ok());
    assert_eq!(b.open(10, "net://if"), Err(Error::Busy));
    // The status server's sockets were never touched: all still listen.
    b.run_for(10_000);
    assert_eq!(b.status_listening(), all);
}

#[test]
fn connections_saying_goodbye_are_bounded() {
    let mut b = Bench::new();
    let mut lingering = 0;
    // Pairs of connections to itself: run 20 listens, run 21 connects; then the card goes
    // mute and both close, so neither goodbye can finish (each would linger a minute).
    for round in 0..3u16 {
        let mut handles = Vec::new();
        for i in 0..MAX_PER_RUN as u16 {
            let port = 10_000 + round * 100 + i;
            // The listener's open is answered when the client arrives.
            let listen = std::format!("tcp://0.0.0.0:{port}?listen");
            let (id, None) = b.request(20, open_op(&listen)) else {
                panic!("a listener's open waits");
            };
            let client = b.open(21, &std::format!("tcp://10.0.2.15:{port}")).unwrap();
            let listener = b.wait(id).unwrap() as u32;
            handles.push((20, listener));
            handles.push((21, client));
        }
        b.card.mute.set(true);
        for (pid, h) in handles {
            b.close(pid, h);
            lingering += 1;
            assert!(b.svc.closing.len() <= MAX_CLOSING);
        }
        b.run_for(10_000);
        b.card.mute.set(false);
    }
    assert!(lingering > MAX_CLOSING);
    assert_eq!(b.svc.closing.len(), MAX_CLOSING);
    // The dropped ones are gone from the stack: the status server, DHCP and the lingering.
    assert_eq!(
        b.svc.sockets.iter().count(),
        b.status_listening() + 1 + MAX_CLOSING
    );
    // Their minute over, they are reset and gone.
    b.run_for(CLOSE_TIMEOUT_US + 10_000);
    assert!(b.svc.closing.is_empty());
}
