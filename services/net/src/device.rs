//! The machine's network card as a smoltcp [`Device`], counting what passes.
//!
//! smoltcp asks for a receive token and a transmit token; the card is polled (no interrupt),
//! so a receive token is only handed out for a frame already copied out of the card.
//!
//! Invariants: a frame that does not fit [`FRAME`] is never built (smoltcp is told the MTU);
//! a send the card refuses is counted as an error, never a panic.

use alloc::boxed::Box;
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;
use zb_abi::NetDev;

/// Largest Ethernet frame handled (1500-byte MTU + 14-byte header).
pub const FRAME: usize = 1514;

/// Packet and byte counters, for `ifconfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
}

pub struct Nic {
    dev: Box<dyn NetDev>,
    rx: [u8; FRAME],
    pub counters: Counters,
}

impl Nic {
    pub fn new(dev: Box<dyn NetDev>) -> Nic {
        Nic {
            dev,
            rx: [0; FRAME],
            counters: Counters::default(),
        }
    }
}

pub struct Rx<'a> {
    frame: &'a [u8],
}

pub struct Tx<'a> {
    dev: &'a dyn NetDev,
    counters: &'a mut Counters,
}

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; FRAME];
        let len = len.min(FRAME);
        let result = f(&mut frame[..len]);
        match self.dev.send(&frame[..len]) {
            Ok(()) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += len as u64;
            }
            Err(_) => self.counters.tx_errors += 1,
        }
        result
    }
}

impl Device for Nic {
    type RxToken<'a>
        = Rx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let n = self.dev.receive(&mut self.rx)?;
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += n as u64;
        Some((
            Rx {
                frame: &self.rx[..n],
            },
            Tx {
                dev: &*self.dev,
                counters: &mut self.counters,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            dev: &*self.dev,
            counters: &mut self.counters,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
