//! The platform's devices as the services that own them see them: [`HalBlock`] and [`HalNet`]
//! adapt `zb_hal`'s [`BlockDevice`] and [`NetDevice`] to `zb_abi`'s [`BlockDev`] and [`NetDev`].
//!
//! A board wraps the platform's devices and hands each to the service that owns it when it
//! constructs that service (`VfsService::new(platform.block().map(HalBlock::boxed))`), as a
//! Tock board hands a capsule its device: a service reaches a device only if it was given it,
//! and the kernel keeps no device for services and has no call to look one up.
//!
//! Errors keep their meaning across the boundary: a block range the device does not have is
//! `InvalidArgument`, a read-only device `ReadOnly`, a device failure `Corrupt`; a frame too
//! large for the card is `TooLarge`.

use alloc::boxed::Box;

use zb_abi::{BlockDev, BlockDeviceInfo, Error, NetDev, NetDeviceInfo};
use zb_hal::{BlockDevice, BlockError, NetDevice, NetError};

/// A platform block device as a [`BlockDev`].
pub struct HalBlock(pub &'static dyn BlockDevice);

impl HalBlock {
    /// `dev` as a boxed [`BlockDev`], the form the vfs service is constructed with.
    pub fn boxed(dev: &'static dyn BlockDevice) -> Box<dyn BlockDev> {
        Box::new(HalBlock(dev))
    }
}

/// A platform network card as a [`NetDev`].
pub struct HalNet(pub &'static dyn NetDevice);

impl HalNet {
    /// `dev` as a boxed [`NetDev`], the form the net service is constructed with.
    pub fn boxed(dev: &'static dyn NetDevice) -> Box<dyn NetDev> {
        Box::new(HalNet(dev))
    }
}

impl NetDev for HalNet {
    fn info(&self) -> NetDeviceInfo {
        NetDeviceInfo {
            mac: self.0.mac(),
            mtu: self.0.mtu(),
            driver: self.0.driver(),
        }
    }

    fn send(&self, frame: &[u8]) -> Result<(), Error> {
        self.0.send(frame).map_err(|e| match e {
            NetError::TooLarge => Error::TooLarge,
            NetError::Io => Error::Corrupt,
        })
    }

    fn receive(&self, buf: &mut [u8]) -> Option<usize> {
        self.0.receive(buf)
    }
}

fn block_error(e: BlockError) -> Error {
    match e {
        BlockError::OutOfRange => Error::InvalidArgument,
        BlockError::ReadOnly => Error::ReadOnly,
        BlockError::Io => Error::Corrupt,
    }
}

impl BlockDev for HalBlock {
    fn info(&self) -> BlockDeviceInfo {
        let i = self.0.info();
        BlockDeviceInfo {
            block_size: i.block_size,
            blocks: i.blocks,
            driver: i.driver,
            writable: i.writable,
        }
    }
    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.0.read(lba, buf).map_err(block_error)
    }
    fn write(&self, lba: u64, data: &[u8]) -> Result<(), Error> {
        self.0.write(lba, data).map_err(block_error)
    }
    fn flush(&self) -> Result<(), Error> {
        self.0.flush().map_err(block_error)
    }
}
