//! The virtio-blk disk behind `/data`: found on PCI bus 0, driven by `virtio-drivers` in
//! polling mode (a request is submitted and its completion awaited; no interrupt).
//!
//! Invariants: requests move at most [`virtio::BOUNCE_SIZE`] bytes (larger calls are split),
//! so every buffer the driver shares fits one bounce page; a device error is a
//! [`BlockError`], never a panic; calls are serialised by the device's mutex.

use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{BarInfo, Command, PciRoot};
use virtio_drivers::transport::{DeviceType, pci::virtio_device_type};
use zb_hal::{BlockDevice, BlockError, BlockInfo};

use crate::memory;
use crate::pci::PortCam;
use crate::virtio::{self, BOUNCE_SIZE, VirtioHal};

pub struct VirtioDisk {
    dev: spin::Mutex<VirtIOBlk<VirtioHal, PciTransport>>,
    blocks: u64,
    writable: bool,
}

/// Finds the first virtio-blk function on PCI bus 0 and brings it up; `None` if there is
/// none (or it cannot be used: the reason is returned for the boot log).
pub fn probe() -> Result<VirtioDisk, &'static str> {
    let mut root = PciRoot::new(PortCam);
    let found = root
        .enumerate_bus(0)
        .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block));
    let Some((df, _)) = found else {
        return Err("no virtio-blk device");
    };
    let bars = root.bars(df).map_err(|_| "unreadable PCI BARs")?;
    // Map every assigned memory BAR (uncached) before the transport looks for its
    // registers in them: OVMF puts the 64-bit one far above 4 GiB.
    for bar in bars.iter().flatten() {
        if let BarInfo::Memory { address, size, .. } = *bar
            && address != 0
            && size != 0
        {
            memory::map_mmio(address, size).ok_or("its registers cannot be mapped")?;
        }
    }
    if !virtio::reserve_bounce() {
        return Err("out of memory for its DMA buffers");
    }
    root.set_command(
        df,
        Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER,
    );
    let transport =
        PciTransport::new::<VirtioHal, _>(&mut root, df).map_err(|_| "virtio PCI setup failed")?;
    let dev = VirtIOBlk::<VirtioHal, _>::new(transport).map_err(|_| "virtio-blk setup failed")?;
    Ok(VirtioDisk {
        blocks: dev.capacity(),
        writable: !dev.readonly(),
        dev: spin::Mutex::new(dev),
    })
}

impl VirtioDisk {
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
