//! The virtio-net card: found on PCI bus 0, driven by `virtio-drivers` in polling mode (the
//! network service polls it; no interrupt), as the platform's [`zb_hal::NetDevice`].
//!
//! Invariants: frames are at most [`FRAME_BYTES`] bytes (a 1500-byte MTU plus the Ethernet
//! header); a receive buffer is handed back to the card as soon as its frame is copied out;
//! a device error is a [`NetError`], never a panic; calls are serialised by the device's mutex.

use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::{DeviceType, pci::virtio_device_type};
use zb_hal::{NetDevice, NetError};

use crate::pci::PortCam;
use crate::virtio::{self, VirtioHal};

/// Receive buffers queued in the card.
const QUEUE: usize = 16;
/// Largest Ethernet frame (no VLAN tag, no jumbo frames).
pub const FRAME_BYTES: usize = 1514;
/// Bytes per receive buffer: a frame and the virtio-net header in front of it.
const RX_BUFFER: usize = 2048;

pub struct VirtioNic {
    dev: spin::Mutex<VirtIONet<VirtioHal, PciTransport, QUEUE>>,
    mac: [u8; 6],
    /// Frames dropped because they did not fit the caller's buffer.
    oversized: AtomicU64,
}

/// Brings up the first virtio-net function on PCI bus 0; why there is none otherwise.
pub fn probe() -> Result<VirtioNic, &'static str> {
    let mut root = PciRoot::new(PortCam);
    let df = root
        .enumerate_bus(0)
        .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::Network))
        .map(|(df, _)| df)
        .ok_or("no virtio-net device")?;
    let transport = virtio::pci_transport(&mut root, df)?;
    let dev = VirtIONet::<VirtioHal, _, QUEUE>::new(transport, RX_BUFFER)
        .map_err(|_| "virtio-net setup failed")?;
    Ok(VirtioNic {
        mac: dev.mac_address(),
        dev: spin::Mutex::new(dev),
        oversized: AtomicU64::new(0),
    })
}

impl NetDevice for VirtioNic {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn driver(&self) -> &'static str {
        "virtio-net"
    }

    fn send(&self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() > FRAME_BYTES {
            return Err(NetError::TooLarge);
        }
        let mut dev = self.dev.lock();
        let mut tx = dev.new_tx_buffer(frame.len());
        tx.packet_mut().copy_from_slice(frame);
        dev.send(tx).map_err(|_| NetError::Io)
    }

    fn receive(&self, buf: &mut [u8]) -> Option<usize> {
        let mut dev = self.dev.lock();
        loop {
            let rx = dev.receive().ok()?;
            let frame = rx.packet();
            let n = frame.len();
            let fits = n <= buf.len();
            if fits {
                buf[..n].copy_from_slice(frame);
            }
            // The buffer goes back to the card whatever happened to its frame; a failure here
            // only leaves the card one buffer short.
            let _ = dev.recycle_rx_buffer(rx);
            if fits {
                return Some(n);
            }
            self.oversized.fetch_add(1, Ordering::Relaxed);
        }
    }
}
