//! The `net` service (DESIGN.md §5): smoltcp over the machine's network card.
//!
//! It owns the interface — an address by DHCP, or the static fallback QEMU's user network
//! expects when no DHCP answer comes — and serves three schemes:
//!
//! | URL | open | read | write |
//! |---|---|---|---|
//! | `tcp://10.0.2.2:7000` | connects (waits for the handshake; `?async`: does not) | bytes, empty at the end | bytes (some or all) |
//! | `tcp://0.0.0.0:8080?listen` | waits for one connection on the port | as above | as above |
//! | `udp://10.0.2.2:5353` | a socket on a free local port | one datagram | one datagram to the host |
//! | `udp://0.0.0.0:5353?listen` | a socket on the port | one datagram | one datagram back to the last sender |
//! | `net://if`, `net://sockets` | the interface, or the open sockets, as text | the text | — |
//! | `net://ping/10.0.2.2` | an ICMP echo session | sends one echo, waits for its reply (or 1 s): one line | — |
//!
//! Everything that waits (a handshake, data to read, room to write, an echo reply) is answered
//! later: the caller's run is in WAIT until then, it never spins. The card has no interrupt
//! here: the service polls it from its tick, every millisecond while anything is open or
//! waiting and every 10 ms otherwise (ICMP echo requests are answered by smoltcp itself).
//!
//! The board constructs the service with the machine's network card ([`NetService::new`], a
//! [`zb_abi::NetDev`]); without one the schemes are served and every connection fails.
//!
//! Shares: the service holds at most [`MAX_CONNS`] handles (`OutOfMemory` beyond), and one
//! client — a run, by the pid its requests carry — at most [`MAX_PER_RUN`] of them (`Busy`
//! beyond), so one run cannot take every socket. The status server's sockets ([`status`]) are
//! its own, outside that pool, and port 80 is refused to runs' listeners: whatever runs hold,
//! the system keeps its room. A TCP connection its run closed lingers (its goodbye) for
//! [`CLOSE_TIMEOUT_US`] at most, and at most [`MAX_CLOSING`] of them at once (the oldest is
//! dropped first).
//!
//! Memory: what a packet brings lands in fixed buffers (the card's frame, each socket's
//! buffers, allocated when the socket is opened; no IP reassembly is built in); the only
//! allocations sized from outside are the status server's (bounded, `try_reserve`; see
//! [`status`]) and a waiting write's copy of the run's data (`try_reserve`). A socket's buffers
//! are allocated with `try_reserve` too, so running out of heap fails that open
//! (`OutOfMemory`), never the kernel; reads go through one scratch buffer of at most
//! [`MAX_READ`] bytes, and the `net://` texts are bounded by the number of sockets.
//!
//! Invariants: no `unsafe`; every handle a client holds names one [`Conn`]; a request is
//! answered exactly once (closing a handle answers what waited on it); bad URLs and bad
//! handles are errors to the client, never a panic.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod addr;
mod device;
pub mod http;
mod status;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpEndpoint,
    Ipv4Address, Ipv4Cidr,
};
use zb_abi::kind::kinds;
use zb_abi::scheme::{Answer, Op, OpenFlags, Reply, Request, RequestId};
use zb_abi::{Error, Host, NativeService, NetDev, Pid, Schemes, System};

use device::{Counters, Nic};

/// How long DHCP may take before the static fallback is used.
const DHCP_WAIT_US: u64 = 3_000_000;
/// QEMU's user network: the guest's address, its prefix, and the gateway.
const FALLBACK: ([u8; 4], u8, [u8; 4]) = ([10, 0, 2, 15], 24, [10, 0, 2, 2]);
/// A connection attempt that has not completed by then is given up (`Unreachable`).
const CONNECT_TIMEOUT_US: u64 = 5_000_000;
/// An echo request without a reply by then is reported lost.
const PING_TIMEOUT_US: u64 = 1_000_000;
/// How long a closed TCP connection may take to say goodbye before it is reset.
const CLOSE_TIMEOUT_US: u64 = 60_000_000;
/// Bytes of each TCP socket's receive and send buffers.
const TCP_BUFFER: usize = 16 * 1024;
/// Datagrams (and their bytes) each UDP socket buffers.
const UDP_PACKETS: usize = 8;
const UDP_BUFFER: usize = 8 * 1024;
/// Most bytes one read returns.
const MAX_READ: usize = 4096;
/// Most handles open at once (all clients together).
pub const MAX_CONNS: usize = 64;
/// Most handles one client (a run) may hold: its share of [`MAX_CONNS`].
pub const MAX_PER_RUN: usize = 16;
/// Most closed TCP connections saying goodbye at once.
pub const MAX_CLOSING: usize = 64;

/// How the interface got its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    Dhcp,
    Static,
}

/// What a client's handle is.
enum Conn {
    Tcp {
        socket: SocketHandle,
        /// Listening: the port (the socket becomes the connection when a client arrives).
        listen: Option<u16>,
        /// When the connection attempt started (for its timeout).
        since_us: u64,
    },
    Udp {
        socket: SocketHandle,
        /// Where writes go: the URL's host, or (listening) whoever sent last.
        peer: Option<IpEndpoint>,
        listen: bool,
    },
    Ping {
        socket: SocketHandle,
        target: Ipv4Address,
        ident: u16,
        seq: u16,
        /// The outstanding echo request: its sequence number and when it left.
        sent: Option<(u16, u64)>,
    },
    /// A text snapshot (`net://if`, `net://sockets`) and how far it was read.
    Text { text: Vec<u8>, at: usize },
}

/// A request answered later.
enum Waiting {
    /// A TCP connect or listen completes: the reply is the handle.
    Open { id: RequestId, handle: u32 },
    Read {
        id: RequestId,
        handle: u32,
        len: usize,
    },
    Write {
        id: RequestId,
        handle: u32,
        data: Vec<u8>,
    },
}

impl Waiting {
    fn handle(&self) -> u32 {
        match self {
            Waiting::Open { handle, .. }
            | Waiting::Read { handle, .. }
            | Waiting::Write { handle, .. } => *handle,
        }
    }

    fn id(&self) -> RequestId {
        match self {
            Waiting::Open { id, .. } | Waiting::Read { id, .. } | Waiting::Write { id, .. } => *id,
        }
    }
}

/// A handle's slot: the connection, the client that opened it, and whether its reads and
/// writes fail with `WouldBlock` instead of waiting.
struct Slot {
    conn: Conn,
    owner: Pid,
    nonblock: bool,
}

pub struct NetService {
    /// The card, until `start` brings the interface up on it.
    device: Option<Box<dyn NetDev>>,
    nic: Option<Nic>,
    info: Option<zb_abi::NetDeviceInfo>,
    iface: Option<Interface>,
    sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    source: Source,
    started_us: u64,
    /// Open handles: handle `n` is `slots[n - 1]`.
    slots: Vec<Option<Slot>>,
    waiting: Vec<Waiting>,
    /// TCP sockets whose handle was closed, kept until their goodbye is done, with when
    /// (about) they were closed.
    closing: Vec<(SocketHandle, u64)>,
    next_port: u16,
    next_ident: u16,
    /// When the stack was last polled.
    last_poll_us: u64,
    /// The buffer reads answered at once are copied into.
    scratch: Vec<u8>,
    /// The HTTP status server, once the interface is up.
    status: Option<status::StatusServer>,
}

impl NetService {
    /// The service for the card `device` (`None`: the machine has none).
    pub fn new(device: Option<Box<dyn NetDev>>) -> NetService {
        NetService {
            device,
            nic: None,
            info: None,
            iface: None,
            sockets: SocketSet::new(Vec::new()),
            dhcp: None,
            source: Source::None,
            started_us: 0,
            slots: Vec::new(),
            waiting: Vec::new(),
            closing: Vec::new(),
            next_port: 49152,
            next_ident: 0x5a42,
            last_poll_us: 0,
            scratch: Vec::new(),
            status: None,
        }
    }

    fn now(host: &dyn System) -> Instant {
        Instant::from_micros(host.clock_us() as i64)
    }

    /// A local port for an outgoing socket (49152–65535, in turn).
    fn ephemeral_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
        port
    }

    /// Whether `client` may open one more handle: `Busy` over its share, `OutOfMemory` when
    /// the service holds all it may.
    fn admit(&self, client: Pid) -> Result<(), Error> {
        let held = self.slots.iter().flatten();
        if held.clone().filter(|s| s.owner == client).count() >= MAX_PER_RUN {
            return Err(Error::Busy);
        }
        if held.count() >= MAX_CONNS {
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }

    fn insert(&mut self, conn: Conn, owner: Pid, nonblock: bool) -> Result<u32, Error> {
        self.admit(owner)?;
        let slot = Some(Slot {
            conn,
            owner,
            nonblock,
        });
        if let Some(ix) = self.slots.iter().position(Option::is_none) {
            self.slots[ix] = slot;
            return Ok(ix as u32 + 1);
        }
        if self.slots.len() >= MAX_CONNS {
            return Err(Error::OutOfMemory);
        }
        self.slots.push(slot);
        Ok(self.slots.len() as u32)
    }

    /// The interface's IPv4 address, if it has one.
    fn address(&self) -> Option<Ipv4Cidr> {
        let iface = self.iface.as_ref()?;
        iface
            .ip_addrs()
            .iter()
            .map(|a| match a {
                IpCidr::Ipv4(c) => *c,
            })
            .next()
    }

    fn gateway(&mut self) -> Option<Ipv4Address> {
        let mut gw = None;
        if let Some(iface) = self.iface.as_mut() {
            iface.routes_mut().update(|routes| {
                gw = routes
                    .iter()
                    .map(|r| match r.via_router {
                        IpAddress::Ipv4(a) => a,
                    })
                    .next();
            });
        }
        gw
    }

    fn configure(&mut self, cidr: Ipv4Cidr, router: Option<Ipv4Address>, source: Source) {
        let Some(iface) = self.iface.as_mut() else {
            return;
        };
        iface.update_ip_addrs(|addrs| {
            addrs.clear();
            // Cannot fail: the list was just cleared and holds at least one address.
            let _ = addrs.push(IpCidr::Ipv4(cidr));
        });
        iface.routes_mut().remove_default_ipv4_route();
        if let Some(r) = router {
            // Cannot fail with room for one default route, which was just removed.
            let _ = iface.routes_mut().add_default_ipv4_route(r);
        }
        self.source = source;
    }

    fn log_address(&mut self, host: &mut dyn System) {
        let (Some(a), gw) = (self.address(), self.gateway()) else {
            return;
        };
        let how = match self.source {
            Source::Dhcp => "DHCP",
            Source::Static => "static: no DHCP answer",
            Source::None => "none",
        };
        let mut line = format!("net: {a}");
        if let Some(gw) = gw {
            let _ = write!(line, " gateway {gw}");
        }
        let _ = write!(line, " ({how})");
        host.log(&line);
    }

    /// Polls the card and the stack, then answers what can be answered.
    fn poll(&mut self, host: &mut dyn Host) {
        self.last_poll_us = host.clock_us();
        let now = Self::now(host);
        let (Some(iface), Some(nic)) = (self.iface.as_mut(), self.nic.as_mut()) else {
            return;
        };
        iface.poll(now, nic, &mut self.sockets);
        if let Some(dhcp) = self.dhcp {
            let event = self.sockets.get_mut::<dhcpv4::Socket>(dhcp).poll();
            match event {
                Some(dhcpv4::Event::Configured(config)) => {
                    // A lease without a router option (QEMU's restricted user network sends
                    // none) routes through the server that gave it.
                    let router = config.router.or(Some(config.server.address));
                    let address = config.address;
                    let changed = self.source != Source::Dhcp || self.address() != Some(address);
                    self.configure(address, router, Source::Dhcp);
                    if changed {
                        self.log_address(host);
                    }
                }
                Some(dhcpv4::Event::Deconfigured) if self.source == Source::Dhcp => {
                    host.log("net: DHCP lease lost");
                    self.fall_back(host);
                }
                Some(dhcpv4::Event::Deconfigured) | None => {}
            }
        }
        if self.source == Source::None
            && host.clock_us().saturating_sub(self.started_us) >= DHCP_WAIT_US
        {
            self.fall_back(host);
        }
        self.answer_waiting(host);
        self.finish_closing(self.last_poll_us);
        if let Some(server) = self.status.as_mut() {
            let net = status::NetFigures {
                counters: self.nic.as_ref().map(|n| n.counters).unwrap_or_default(),
                sockets: self
                    .slots
                    .iter()
                    .flatten()
                    .filter(|s| !matches!(s.conn, Conn::Text { .. }))
                    .count(),
            };
            server.serve(&mut self.sockets, host, net);
        }
        // What was just written (answers, acknowledgements, window updates) leaves now rather
        // than at the next tick: one tick less per request/response turn.
        if let (Some(iface), Some(nic)) = (self.iface.as_mut(), self.nic.as_mut()) {
            iface.poll(now, nic, &mut self.sockets);
        }
    }

    fn fall_back(&mut self, host: &mut dyn System) {
        let (ip, prefix, gw) = FALLBACK;
        let cidr = Ipv4Cidr::new(Ipv4Address::from(ip), prefix);
        self.configure(cidr, Some(Ipv4Address::from(gw)), Source::Static);
        self.log_address(host);
    }

    /// Answers every waiting request that can be answered now.
    fn answer_waiting(&mut self, host: &mut dyn Host) {
        let mut i = 0;
        while i < self.waiting.len() {
            match self.try_answer(i, host) {
                Some(()) => {
                    self.waiting.remove(i);
                }
                None => i += 1,
            }
        }
    }

    /// Answers waiting request `i` if it can be; `None` if it must wait on.
    fn try_answer(&mut self, i: usize, host: &mut dyn Host) -> Option<()> {
        let now_us = host.clock_us();
        let handle = self.waiting[i].handle();
        let id = self.waiting[i].id();
        let slot = (handle as usize)
            .checked_sub(1)
            .and_then(|ix| self.slots.get_mut(ix))
            .and_then(Option::as_mut);
        let Some(slot) = slot else {
            host.reply(id, Reply::Err(Error::BadHandle));
            return Some(());
        };
        // What happens to the request: a reply, and whether the handle goes with it.
        let (reply, drop): (Result<Option<usize>, Error>, bool) =
            match (&self.waiting[i], &mut slot.conn) {
                (
                    Waiting::Open { .. },
                    Conn::Tcp {
                        socket,
                        since_us,
                        listen,
                    },
                ) => {
                    let s = self.sockets.get::<tcp::Socket>(*socket);
                    match s.state() {
                        tcp::State::Established | tcp::State::CloseWait => {
                            (Ok(Some(handle as usize)), false)
                        }
                        tcp::State::Closed if listen.is_none() => {
                            (Err(Error::ConnectionRefused), true)
                        }
                        tcp::State::SynSent
                            if now_us.saturating_sub(*since_us) > CONNECT_TIMEOUT_US =>
                        {
                            (Err(Error::Unreachable), true)
                        }
                        _ => (Ok(None), false),
                    }
                }
                (Waiting::Read { len, .. }, conn) => {
                    // The scratch buffer: at most MAX_READ bytes, allocated once.
                    let mut buf = core::mem::take(&mut self.scratch);
                    buf.resize((*len).min(MAX_READ), 0);
                    let result = read_now(&mut self.sockets, conn, &mut buf, now_us);
                    if let Ok(Some(n)) = result {
                        host.reply(id, Reply::Data(&buf[..n]));
                    }
                    self.scratch = buf;
                    match result {
                        Ok(Some(_)) => return Some(()),
                        other => (other, false),
                    }
                }
                (Waiting::Write { data, .. }, conn) => {
                    (write_now(&mut self.sockets, conn, data), false)
                }
                _ => (Err(Error::BadHandle), false),
            };
        match reply {
            Ok(None) => return None,
            Ok(Some(n)) => host.reply(id, Reply::Done(n as u64)),
            Err(e) => host.reply(id, Reply::Err(e)),
        }
        if drop {
            self.drop_slot(handle);
        }
        Some(())
    }

    /// Forgets handle `handle` and lets its socket go (a TCP socket says goodbye first).
    fn drop_slot(&mut self, handle: u32) {
        let Some(ix) = (handle as usize).checked_sub(1) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(ix).and_then(Option::take) else {
            return;
        };
        match slot.conn {
            Conn::Tcp { socket, .. } => self.linger(socket),
            Conn::Udp { socket, .. } | Conn::Ping { socket, .. } => {
                self.sockets.remove(socket);
            }
            Conn::Text { .. } => {}
        }
    }

    /// Closes TCP socket `socket`, whose handle is gone, and keeps it until its goodbye is
    /// done; over [`MAX_CLOSING`] such sockets, the oldest is dropped at once (its peer gets a
    /// reset at its next segment), so runs that close many connections to peers that never
    /// answer cannot fill the heap.
    fn linger(&mut self, socket: SocketHandle) {
        self.sockets.get_mut::<tcp::Socket>(socket).close();
        if self.closing.len() >= MAX_CLOSING {
            let (oldest, _) = self.closing.remove(0);
            self.sockets.remove(oldest);
        }
        self.closing.push((socket, self.last_poll_us));
    }

    /// Removes closed TCP sockets whose goodbye is over, or has taken [`CLOSE_TIMEOUT_US`]
    /// (a peer that never closes its side would otherwise hold the socket in FIN-WAIT-2
    /// forever; Linux's `tcp_fin_timeout` is the same minute).
    fn finish_closing(&mut self, now_us: u64) {
        let sockets = &mut self.sockets;
        self.closing.retain(|&(h, since_us)| {
            let s = sockets.get_mut::<tcp::Socket>(h);
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done {
                sockets.remove(h);
            } else if now_us.saturating_sub(since_us) >= CLOSE_TIMEOUT_US {
                // A reset goes out with this poll; the socket is Closed, gone at the next.
                s.abort();
            }
            !done
        });
    }

    fn open(
        &mut self,
        id: RequestId,
        scheme: Scheme,
        path: &str,
        flags: OpenFlags,
        from: Pid,
        host: &mut dyn Host,
    ) -> Answer<'static> {
        let now_us = host.clock_us();
        // Before any buffer is allocated: a client over its share costs nothing.
        if let Err(e) = self.admit(from) {
            return Answer::Now(Reply::Err(e));
        }
        let mut background = false;
        let conn = match scheme {
            Scheme::Net => match self.open_net(path, now_us) {
                Ok(conn) => conn,
                Err(e) => return Answer::Now(Reply::Err(e)),
            },
            Scheme::Tcp | Scheme::Udp => {
                let Ok(ep) = addr::parse(path) else {
                    return Answer::Now(Reply::Err(Error::InvalidArgument));
                };
                background = ep.background;
                if self.iface.is_none() {
                    return Answer::Now(Reply::Err(Error::Unreachable));
                }
                let result = if scheme == Scheme::Tcp {
                    self.open_tcp(ep, now_us)
                } else {
                    self.open_udp(ep)
                };
                match result {
                    Ok(conn) => conn,
                    Err(e) => return Answer::Now(Reply::Err(e)),
                }
            }
        };
        let waits = matches!(conn, Conn::Tcp { .. });
        let socket = match &conn {
            Conn::Tcp { socket, .. } | Conn::Udp { socket, .. } | Conn::Ping { socket, .. } => {
                Some(*socket)
            }
            Conn::Text { .. } => None,
        };
        let handle = match self.insert(conn, from, flags.contains(OpenFlags::NONBLOCK)) {
            Ok(h) => h,
            Err(e) => {
                if let Some(s) = socket {
                    self.sockets.remove(s);
                }
                return Answer::Now(Reply::Err(e));
            }
        };
        // `?async`: the open returns while the handshake is under way; reads and writes say
        // `WouldBlock` (or wait) until it completes, and end (read 0, write `Closed`) if it
        // fails.
        if !waits || background {
            return Answer::Now(Reply::Done(u64::from(handle)));
        }
        // The handshake has not happened yet: answered from `poll`.
        self.waiting.push(Waiting::Open { id, handle });
        Answer::Later
    }

    fn open_tcp(&mut self, ep: addr::Endpoint, now_us: u64) -> Result<Conn, Error> {
        let rx = tcp::SocketBuffer::new(filled(0u8, TCP_BUFFER)?);
        let tx = tcp::SocketBuffer::new(filled(0u8, TCP_BUFFER)?);
        let mut socket = tcp::Socket::new(rx, tx);
        tune(&mut socket);
        if ep.listen {
            if self.tcp_listening(ep.port) {
                return Err(Error::AddressInUse);
            }
            socket.listen(ep.port).map_err(|_| Error::InvalidArgument)?;
            let socket = self.sockets.add(socket);
            return Ok(Conn::Tcp {
                socket,
                listen: Some(ep.port),
                since_us: now_us,
            });
        }
        let remote = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(ep.ip)), ep.port);
        let local = self.ephemeral_port();
        let Some(iface) = self.iface.as_mut() else {
            return Err(Error::Unreachable);
        };
        socket
            .connect(iface.context(), remote, local)
            .map_err(|e| match e {
                tcp::ConnectError::Unaddressable => Error::Unreachable,
                tcp::ConnectError::InvalidState => Error::Busy,
            })?;
        let socket = self.sockets.add(socket);
        Ok(Conn::Tcp {
            socket,
            listen: None,
            since_us: now_us,
        })
    }

    /// Whether something listens on TCP `port`: the status server, or a run's listener that
    /// has not had its connection yet (once it has, the port is free for another).
    fn tcp_listening(&self, port: u16) -> bool {
        (self.status.is_some() && port == status::PORT)
            || self.slots.iter().flatten().any(|slot| match &slot.conn {
                Conn::Tcp {
                    socket,
                    listen: Some(p),
                    ..
                } => *p == port && self.sockets.get::<tcp::Socket>(*socket).is_listening(),
                _ => false,
            })
    }

    /// Whether a UDP socket is bound to `port`.
    fn udp_bound(&self, port: u16) -> bool {
        self.slots.iter().flatten().any(|slot| match &slot.conn {
            Conn::Udp { socket, .. } => {
                self.sockets.get::<udp::Socket>(*socket).endpoint().port == port
            }
            _ => false,
        })
    }

    fn open_udp(&mut self, ep: addr::Endpoint) -> Result<Conn, Error> {
        let rx = udp::PacketBuffer::new(
            filled(udp::PacketMetadata::EMPTY, UDP_PACKETS)?,
            filled(0u8, UDP_BUFFER)?,
        );
        let tx = udp::PacketBuffer::new(
            filled(udp::PacketMetadata::EMPTY, UDP_PACKETS)?,
            filled(0u8, UDP_BUFFER)?,
        );
        let mut socket = udp::Socket::new(rx, tx);
        let port = if ep.listen {
            ep.port
        } else {
            self.ephemeral_port()
        };
        if self.udp_bound(port) {
            return Err(Error::AddressInUse);
        }
        socket.bind(port).map_err(|_| Error::AlreadyExists)?;
        let peer = (!ep.listen)
            .then(|| IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(ep.ip)), ep.port));
        Ok(Conn::Udp {
            socket: self.sockets.add(socket),
            peer,
            listen: ep.listen,
        })
    }

    fn open_net(&mut self, path: &str, _now_us: u64) -> Result<Conn, Error> {
        match path {
            "if" => Ok(Conn::Text {
                text: self.interface_text().into_bytes(),
                at: 0,
            }),
            "sockets" => Ok(Conn::Text {
                text: self.sockets_text().into_bytes(),
                at: 0,
            }),
            _ => {
                let target = path.strip_prefix("ping/").ok_or(Error::NotFound)?;
                let ip = addr::parse_ipv4(target).ok_or(Error::InvalidArgument)?;
                if self.iface.is_none() {
                    return Err(Error::Unreachable);
                }
                let rx = icmp::PacketBuffer::new(
                    filled(icmp::PacketMetadata::EMPTY, 4)?,
                    filled(0u8, 1024)?,
                );
                let tx = icmp::PacketBuffer::new(
                    filled(icmp::PacketMetadata::EMPTY, 4)?,
                    filled(0u8, 1024)?,
                );
                let mut socket = icmp::Socket::new(rx, tx);
                let ident = self.next_ident;
                self.next_ident = self.next_ident.wrapping_add(1);
                socket
                    .bind(icmp::Endpoint::Ident(ident))
                    .map_err(|_| Error::Busy)?;
                Ok(Conn::Ping {
                    socket: self.sockets.add(socket),
                    target: Ipv4Address::from(ip),
                    ident,
                    seq: 0,
                    sent: None,
                })
            }
        }
    }

    /// `net://if`: the interface as `ifconfig` shows it.
    fn interface_text(&mut self) -> String {
        let mut t = String::new();
        let Some(info) = self.info else {
            t.push_str("no network card\n");
            return t;
        };
        let _ = writeln!(
            t,
            "eth0: {} mac {} mtu {}",
            info.driver,
            Mac(info.mac),
            info.mtu
        );
        match (self.address(), self.gateway()) {
            (Some(a), gw) => {
                let _ = write!(t, "  inet {a}");
                if let Some(gw) = gw {
                    let _ = write!(t, " gateway {gw}");
                }
                let how = match self.source {
                    Source::Dhcp => "dhcp",
                    Source::Static => "static",
                    Source::None => "none",
                };
                let _ = writeln!(t, " ({how})");
            }
            (None, _) => t.push_str("  no address yet (waiting for DHCP)\n"),
        }
        let c: Counters = self.nic.as_ref().map(|n| n.counters).unwrap_or_default();
        let _ = writeln!(
            t,
            "  rx packets {} bytes {}\n  tx packets {} bytes {} errors {}",
            c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.tx_errors
        );
        t
    }

    /// `net://sockets`: one line per open socket, as `netstat` shows them.
    fn sockets_text(&self) -> String {
        let mut t = String::from(
            "PROTO  LOCAL                  REMOTE                 STATE         PID\n",
        );
        for slot in self.slots.iter().flatten() {
            let row = match &slot.conn {
                Conn::Tcp { socket, listen, .. } => {
                    let s = self.sockets.get::<tcp::Socket>(*socket);
                    let local = match (s.local_endpoint(), listen) {
                        (Some(ep), _) => format!("{ep}"),
                        (None, Some(port)) => format!("0.0.0.0:{port}"),
                        (None, None) => String::from("-"),
                    };
                    let remote = s
                        .remote_endpoint()
                        .map_or_else(|| String::from("-"), |ep| format!("{ep}"));
                    let state = format!("{}", s.state());
                    ("tcp", local, remote, state)
                }
                Conn::Udp {
                    socket,
                    peer,
                    listen,
                } => {
                    let s = self.sockets.get::<udp::Socket>(*socket);
                    let local = format!("0.0.0.0:{}", s.endpoint().port);
                    let remote = peer.map_or_else(|| String::from("-"), |ep| format!("{ep}"));
                    let state = if *listen { "LISTEN" } else { "-" };
                    ("udp", local, remote, String::from(state))
                }
                Conn::Ping { target, .. } => (
                    "icmp",
                    String::from("-"),
                    format!("{target}"),
                    String::from("-"),
                ),
                Conn::Text { .. } => continue,
            };
            let _ = writeln!(
                t,
                "{:<7}{:<23}{:<23}{:<14}{}",
                row.0, row.1, row.2, row.3, slot.owner
            );
        }
        // Connections their runs closed, still saying goodbye (FIN-WAIT, LAST-ACK, …).
        for &(h, _) in &self.closing {
            let s = self.sockets.get::<tcp::Socket>(h);
            let ep =
                |e: Option<IpEndpoint>| e.map_or_else(|| String::from("-"), |e| format!("{e}"));
            let _ = writeln!(
                t,
                "{:<7}{:<23}{:<23}{:<14}-",
                "tcp",
                ep(s.local_endpoint()),
                ep(s.remote_endpoint()),
                format!("{}", s.state())
            );
        }
        t
    }

    /// A read: answered now if there is something to read (or the end), later otherwise.
    fn read(&mut self, id: RequestId, handle: u32, len: u32, host: &mut dyn Host) -> Answer<'_> {
        let now_us = host.clock_us();
        let len = (len as usize).min(MAX_READ);
        let slot = match slot_mut(&mut self.slots, handle) {
            Ok(slot) => slot,
            Err(e) => return Answer::Now(Reply::Err(e)),
        };
        let mut buf = core::mem::take(&mut self.scratch);
        buf.resize(len, 0);
        match read_now(&mut self.sockets, &mut slot.conn, &mut buf, now_us) {
            Ok(Some(n)) => {
                self.scratch = buf;
                Answer::Now(Reply::Data(&self.scratch[..n]))
            }
            Ok(None) if slot.nonblock => {
                self.scratch = buf;
                Answer::Now(Reply::Err(Error::WouldBlock))
            }
            Ok(None) => {
                self.scratch = buf;
                self.waiting.push(Waiting::Read { id, handle, len });
                Answer::Later
            }
            Err(e) => {
                self.scratch = buf;
                Answer::Now(Reply::Err(e))
            }
        }
    }

    fn write(&mut self, id: RequestId, handle: u32, data: &[u8]) -> Answer<'static> {
        let Ok(slot) = slot_mut(&mut self.slots, handle) else {
            return Answer::Now(Reply::Err(Error::BadHandle));
        };
        match write_now(&mut self.sockets, &mut slot.conn, data) {
            Ok(Some(n)) => Answer::Now(Reply::Done(n as u64)),
            Ok(None) if slot.nonblock => Answer::Now(Reply::Err(Error::WouldBlock)),
            Ok(None) => {
                // A copy of the run's data until there is room: heap permitting.
                let mut copy = Vec::new();
                if copy.try_reserve_exact(data.len()).is_err() {
                    return Answer::Now(Reply::Err(Error::OutOfMemory));
                }
                copy.extend_from_slice(data);
                self.waiting.push(Waiting::Write {
                    id,
                    handle,
                    data: copy,
                });
                Answer::Later
            }
            Err(e) => Answer::Now(Reply::Err(e)),
        }
    }

    fn close(&mut self, handle: u32, host: &mut dyn Schemes) {
        // What waited on the handle is answered: the handle is gone.
        let mut i = 0;
        while i < self.waiting.len() {
            if self.waiting[i].handle() == handle {
                let w = self.waiting.remove(i);
                host.reply(w.id(), Reply::Err(Error::Closed));
            } else {
                i += 1;
            }
        }
        self.drop_slot(handle);
    }
}

/// Settings for every TCP socket: ACKs go out at once (smoltcp delays them 10 ms by default,
/// which paces a peer's sending to the delay) and small writes are not held back (Nagle):
/// this stack serves interactive connections and small answers.
pub(crate) fn tune(socket: &mut tcp::Socket<'_>) {
    socket.set_ack_delay(None);
    socket.set_nagle_enabled(false);
}

/// `n` copies of `value` in a vector allocated with `try_reserve`: `OutOfMemory` if the heap
/// has no room.
fn filled<T: Clone>(value: T, n: usize) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory)?;
    v.resize(n, value);
    Ok(v)
}

/// A [`fmt::Write`](core::fmt::Write) into a fixed buffer that drops what does not fit: text
/// for a reader's buffer without allocating.
pub(crate) struct Slice<'b> {
    buf: &'b mut [u8],
    n: usize,
}

impl<'b> Slice<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Slice<'b> {
        Slice { buf, n: 0 }
    }

    /// Bytes written.
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

impl core::fmt::Write for Slice<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let k = s.len().min(self.buf.len() - self.n);
        self.buf[self.n..self.n + k].copy_from_slice(&s.as_bytes()[..k]);
        self.n += k;
        Ok(())
    }
}

/// The slot of `handle`.
fn slot_mut(slots: &mut [Option<Slot>], handle: u32) -> Result<&mut Slot, Error> {
    let ix = (handle as usize).checked_sub(1).ok_or(Error::BadHandle)?;
    slots
        .get_mut(ix)
        .and_then(Option::as_mut)
        .ok_or(Error::BadHandle)
}

/// Reads what `conn` has for a reader now: `Some(n)` bytes in `buf` (0: the end), `None` if
/// the reader must wait.
fn read_now(
    sockets: &mut SocketSet<'static>,
    conn: &mut Conn,
    buf: &mut [u8],
    now_us: u64,
) -> Result<Option<usize>, Error> {
    match conn {
        Conn::Tcp { socket, .. } => {
            let s = sockets.get_mut::<tcp::Socket>(*socket);
            if s.can_recv() {
                return s.recv_slice(buf).map(Some).map_err(|_| Error::Closed);
            }
            if !s.may_recv()
                && !matches!(
                    s.state(),
                    tcp::State::Listen | tcp::State::SynReceived | tcp::State::SynSent
                )
            {
                return Ok(Some(0));
            }
            Ok(None)
        }
        Conn::Udp {
            socket,
            peer,
            listen,
        } => {
            let s = sockets.get_mut::<udp::Socket>(*socket);
            match s.recv_slice(buf) {
                Ok((n, meta)) => {
                    if *listen {
                        *peer = Some(meta.endpoint);
                    }
                    Ok(Some(n))
                }
                Err(_) => Ok(None),
            }
        }
        Conn::Ping {
            socket,
            target,
            ident,
            seq,
            sent,
        } => ping_step(sockets, *socket, *target, *ident, seq, sent, buf, now_us),
        Conn::Text { text, at } => {
            let n = buf.len().min(text.len() - *at);
            buf[..n].copy_from_slice(&text[*at..*at + n]);
            *at += n;
            Ok(Some(n))
        }
    }
}

/// One ping: sends the echo request if none is out, then reports its reply or its loss.
#[allow(clippy::too_many_arguments)]
fn ping_step(
    sockets: &mut SocketSet<'static>,
    socket: SocketHandle,
    target: Ipv4Address,
    ident: u16,
    seq: &mut u16,
    sent: &mut Option<(u16, u64)>,
    buf: &mut [u8],
    now_us: u64,
) -> Result<Option<usize>, Error> {
    let s = sockets.get_mut::<icmp::Socket>(socket);
    let caps = smoltcp::phy::ChecksumCapabilities::default();
    let Some((number, at)) = *sent else {
        *seq = seq.wrapping_add(1);
        let payload = [0x5a; 56];
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no: *seq,
            data: &payload,
        };
        let out = s
            .send(repr.buffer_len(), IpAddress::Ipv4(target))
            .map_err(|_| Error::Busy)?;
        let mut packet = Icmpv4Packet::new_unchecked(out);
        repr.emit(&mut packet, &caps);
        *sent = Some((*seq, now_us));
        return Ok(None);
    };
    while s.can_recv() {
        let Ok((data, from)) = s.recv() else {
            break;
        };
        let Ok(packet) = Icmpv4Packet::new_checked(data) else {
            continue;
        };
        let Ok(Icmpv4Repr::EchoReply { seq_no, data, .. }) = Icmpv4Repr::parse(&packet, &caps)
        else {
            continue;
        };
        if seq_no != number {
            continue;
        }
        let us = now_us.saturating_sub(at);
        let mut line = Slice::new(buf);
        let _ = writeln!(
            line,
            "{} bytes from {from}: icmp_seq={seq_no} time={}.{:03} ms",
            data.len() + 8,
            us / 1000,
            us % 1000
        );
        *sent = None;
        return Ok(Some(line.len()));
    }
    if now_us.saturating_sub(at) >= PING_TIMEOUT_US {
        *sent = None;
        let mut line = Slice::new(buf);
        let _ = writeln!(
            line,
            "no reply from {target}: icmp_seq={number} (timed out)"
        );
        return Ok(Some(line.len()));
    }
    Ok(None)
}

/// Writes `data` into `conn` now: `Some(n)` bytes taken, `None` if the writer must wait.
fn write_now(
    sockets: &mut SocketSet<'static>,
    conn: &mut Conn,
    data: &[u8],
) -> Result<Option<usize>, Error> {
    match conn {
        Conn::Tcp { socket, .. } => {
            let s = sockets.get_mut::<tcp::Socket>(*socket);
            if !s.may_send() {
                return match s.state() {
                    tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived => Ok(None),
                    _ => Err(Error::Closed),
                };
            }
            if data.is_empty() {
                return Ok(Some(0));
            }
            match s.send_slice(data) {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(Error::Closed),
            }
        }
        Conn::Udp { socket, peer, .. } => {
            let Some(to) = *peer else {
                // Listening, and nobody has sent anything yet: nobody to answer.
                return Err(Error::InvalidArgument);
            };
            let s = sockets.get_mut::<udp::Socket>(*socket);
            match s.send_slice(data, to) {
                Ok(()) => Ok(Some(data.len())),
                Err(udp::SendError::BufferFull) => Ok(None),
                Err(udp::SendError::Unaddressable) => Err(Error::Unreachable),
            }
        }
        Conn::Ping { .. } | Conn::Text { .. } => Err(Error::ReadOnly),
    }
}

/// A MAC address as people write it: `52:54:00:12:34:56`.
struct Mac([u8; 6]);

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Tcp,
    Udp,
    Net,
}

impl NativeService for NetService {
    fn name(&self) -> &'static str {
        "net"
    }

    fn start(&mut self, host: &mut dyn Host) {
        host.register_kind(kinds::NET_SERVICE, "net");
        for (scheme, kind) in [
            ("tcp", kinds::SCHEME_TCP),
            ("udp", kinds::SCHEME_UDP),
            ("net", kinds::SCHEME_NET),
        ] {
            if let Err(e) = host.register_scheme(scheme, kind) {
                host.log(&format!("net: cannot serve {scheme}://: {e}"));
            }
        }
        self.started_us = host.clock_us();
        let Some(dev) = self.device.take() else {
            host.log("net: no network card");
            return;
        };
        let info = dev.info();
        let mut nic = Nic::new(dev);
        let hw = HardwareAddress::Ethernet(EthernetAddress(info.mac));
        let mut config = Config::new(hw);
        config.random_seed = host.cycles()
            ^ u64::from_le_bytes([
                info.mac[0],
                info.mac[1],
                info.mac[2],
                info.mac[3],
                info.mac[4],
                info.mac[5],
                0,
                0,
            ]);
        let iface = Interface::new(config, &mut nic, Self::now(host));
        self.iface = Some(iface);
        self.nic = Some(nic);
        self.info = Some(info);
        self.dhcp = Some(self.sockets.add(dhcpv4::Socket::new()));
        self.status = Some(status::StatusServer::new(&mut self.sockets));
        host.log(&format!(
            "net: {} {}, asking DHCP for an address",
            info.driver,
            Mac(info.mac)
        ));
        self.poll(host);
    }

    fn console_input(&mut self, _: &[u8], _: &mut dyn Host) {}

    fn request<'s>(&'s mut self, req: Request<'_>, host: &mut dyn Host) -> Answer<'s> {
        // The stack is polled before a read (what arrived is there to read) and after what
        // sends (its SYN or data leaves now, not at the next tick).
        let answer = match req.op {
            Op::Read { handle, len } => {
                self.poll(host);
                // (The room the read makes goes out as a window update at the next poll, at
                // most a tick away.)
                return self.read(req.id, handle, len, host);
            }
            Op::Open {
                scheme,
                path,
                flags,
            } => {
                let scheme = match scheme {
                    "tcp" => Scheme::Tcp,
                    "udp" => Scheme::Udp,
                    "net" => Scheme::Net,
                    _ => return Answer::Now(Reply::Err(Error::NotFound)),
                };
                self.open(req.id, scheme, path, flags, req.from, host)
            }
            Op::Write { handle, data } => self.write(req.id, handle, data),
            Op::Close { handle } => {
                self.close(handle, host);
                Answer::Now(Reply::Done(0))
            }
            _ => Answer::Now(Reply::Err(Error::Unsupported)),
        };
        self.poll(host);
        answer
    }

    fn next_tick(&self) -> Option<u64> {
        self.iface.as_ref()?;
        let busy = !self.waiting.is_empty()
            || self.slots.iter().any(Option::is_some)
            || self.source == Source::None
            || self.status.as_ref().is_some_and(|s| s.busy(&self.sockets));
        let step = if busy { 1_000 } else { 10_000 };
        Some(self.last_poll_us.saturating_add(step))
    }

    fn tick(&mut self, host: &mut dyn Host) {
        self.poll(host);
    }
}
