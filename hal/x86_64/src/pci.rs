//! PCI configuration space through the legacy I/O ports `0xCF8`/`0xCFC` (configuration
//! mechanism #1), for `virtio-drivers`' PCI bus walker.
//!
//! Why ports and not ECAM: the port mechanism needs no address from ACPI (the ECAM base differs
//! between SeaBIOS and OVMF) and every PC chipset has it, q35 included. It reaches the first
//! 256 bytes of each function's configuration space, which hold everything a virtio device
//! needs (its capability list lives there).
//!
//! Invariant: one address/data port pair, used with interrupts as they are — the kernel is
//! single-threaded and no interrupt handler touches PCI, so an address write and the data
//! access that follows cannot be interleaved.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};
use x86_64::instructions::port::Port;

const ADDRESS: u16 = 0xCF8;
const DATA: u16 = 0xCFC;

/// Configuration mechanism #1.
pub struct PortCam;

fn address(df: DeviceFunction, offset: u8) -> u32 {
    0x8000_0000
        | u32::from(df.bus) << 16
        | u32::from(df.device & 0x1f) << 11
        | u32::from(df.function & 0x7) << 8
        | u32::from(offset & 0xfc)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        // SAFETY: 0xCF8/0xCFC are the PC's PCI configuration ports; writing an address with
        // the enable bit and reading the data port has no effect beyond the configuration
        // read (see the module invariant on interleaving).
        unsafe {
            Port::<u32>::new(ADDRESS).write(address(df, offset));
            Port::<u32>::new(DATA).read()
        }
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as in `read_word`; the write goes to the device's configuration register
        // the caller (virtio-drivers' bus code) chose.
        unsafe {
            Port::<u32>::new(ADDRESS).write(address(df, offset));
            Port::<u32>::new(DATA).write(data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}
