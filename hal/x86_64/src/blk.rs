//! The virtio-blk disk behind `/data`: found on PCI bus 0, driven by `virtio-drivers` in
//! polling mode (a request is submitted and its completion awaited; no interrupt).
//!
//! Invariants: requests move at most [`virtio::BOUNCE_SIZE`] bytes (larger calls are split),
//! so every buffer the driver shares fits one bounce page; a device error is a
//! [`BlockError`], never a panic; calls are serialised by the device's mutex.

use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};
use virtio_drivers::transport::{DeviceType, pci::virtio_device_type};
use zb_hal::{BlockDevice, BlockError, BlockInfo};

use crate::pci::PortCam;
use crate::virtio::{self, BOUNCE_SIZE, VirtioHal};

pub struct VirtioDisk {
    dev: spin::Mutex<VirtIOBlk<VirtioHal, PciTransport>>,
    blocks: u64,
    writable: bool,
}

/// The serial number (`-device virtio-blk-pci,serial=…`) that marks the journal's disk.
pub const JOURNAL_SERIAL: &[u8] = b"zb-journal";

/// The disks found at boot: `/data`'s (or why there is none) and the journal's.
pub struct Disks {
    pub data: Result<VirtioDisk, &'static str>,
    pub journal: Option<VirtioDisk>,
}

/// Finds the virtio-blk functions on PCI bus 0 and brings them up: the one whose serial is
/// [`JOURNAL_SERIAL`] holds the journal, the first other one `/data`.
pub fn probe() -> Disks {
    let mut root = PciRoot::new(PortCam);
    let found: alloc::vec::Vec<_> = root
        .enumerate_bus(0)
        .filter(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block))
        .map(|(df, _)| df)
        .collect();
    let mut disks = Disks {
        data: Err("no virtio-blk device"),
        journal: None,
    };
    for df in found {
        let disk = match bring_up(&mut root, df) {
            Ok(disk) => disk,
            Err(why) => {
                if disks.data.is_err() {
                    disks.data = Err(why);
                }
                continue;
            }
        };
        if disk.serial_is(JOURNAL_SERIAL) && disks.journal.is_none() {
            disks.journal = Some(disk);
        } else if disks.data.is_err() {
            disks.data = Ok(disk);
        }
    }
    disks
}

/// Sets up the virtio-blk function at `df`.
fn bring_up(root: &mut PciRoot<PortCam>, df: DeviceFunction) -> Result<VirtioDisk, &'static str> {
    let transport = virtio::pci_transport(root, df)?;
    let dev = VirtIOBlk::<VirtioHal, _>::new(transport).map_err(|_| "virtio-blk setup failed")?;
    Ok(VirtioDisk {
        blocks: dev.capacity(),
        writable: !dev.readonly(),
        dev: spin::Mutex::new(dev),
    })
}

impl VirtioDisk {
    /// Whether the disk's serial number is `serial` (a disk without one matches nothing).
    fn serial_is(&self, serial: &[u8]) -> bool {
        let mut id = [0u8; 20];
        match self.dev.lock().device_id(&mut id) {
            Ok(len) => id.get(..len) == Some(serial),
            Err(_) => false,
        }
    }

    /// Checks a request: whole sectors, inside the disk.
    fn check(&self, lba: u64, len: usize) -> Result<(), BlockError> {
        let sectors = (len / SECTOR_SIZE) as u64;
        if !len.is_multiple_of(SECTOR_SIZE)
            || lba.checked_add(sectors).is_none_or(|end| end > self.blocks)
        {
            return Err(BlockError::OutOfRange);
        }
        Ok(())
    }
}

impl BlockDevice for VirtioDisk {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            block_size: SECTOR_SIZE as u32,
            blocks: self.blocks,
            driver: "virtio-blk",
            writable: self.writable,
        }
    }

    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.check(lba, buf.len())?;
        // (An empty buffer makes no request: the driver asserts a request is not empty.)
        let mut dev = self.dev.lock();
        for (i, chunk) in buf.chunks_mut(BOUNCE_SIZE).enumerate() {
            let at = lba + (i * BOUNCE_SIZE / SECTOR_SIZE) as u64;
            dev.read_blocks(at as usize, chunk)
                .map_err(|_| BlockError::Io)?;
        }
        Ok(())
    }

    fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        if !self.writable {
            return Err(BlockError::ReadOnly);
        }
        self.check(lba, buf.len())?;
        // (An empty buffer makes no request, as in `read`.)
        let mut dev = self.dev.lock();
        for (i, chunk) in buf.chunks(BOUNCE_SIZE).enumerate() {
            let at = lba + (i * BOUNCE_SIZE / SECTOR_SIZE) as u64;
            dev.write_blocks(at as usize, chunk)
                .map_err(|_| BlockError::Io)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BlockError> {
        self.dev.lock().flush().map_err(|_| BlockError::Io)
    }
}
