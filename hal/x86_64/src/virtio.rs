//! What `virtio-drivers` needs from the machine ([`VirtioHal`]): DMA memory, and MMIO and
//! buffers made addressable for devices.
//!
//! - Rings (`dma_alloc`) are physically contiguous frames from the frame allocator, used
//!   through the bootloader's mapping of physical memory. Drivers allocate them once per
//!   device, so they are never given back (`dma_dealloc` reports failure and keeps them).
//! - Buffers the driver shares (`share`) are *bounced*: copied into a page of a small pool of
//!   DMA pages and back on `unshare`. Kernel buffers (heap, stack) need not be physically
//!   contiguous or even identity-known; a bounce page always is. The disk driver moves at most
//!   [`BOUNCE_SIZE`] bytes per request, so one page per shared buffer suffices, and the pool is
//!   filled before the device is set up ([`reserve_bounce`]), so `share` does not allocate.
//! - Device registers are the ones [`pci_transport`] mapped with [`memory::map_mmio`] before
//!   it made the transport (BARs may lie above 4 GiB, outside the bootloader's mapping).
//! - virtio-net keeps its receive buffers shared for as long as they are queued (one bounce
//!   page each); the pool grows to what is in use (`share` takes a fresh DMA page when it is
//!   empty) and pages come back to it on `unshare`.
//!
//! Invariants: a bounce page is owned by exactly one shared buffer between `share` and
//! `unshare`; a shared buffer is at most [`BOUNCE_SIZE`] bytes (disk requests are split to
//! fit, network frames are smaller).

use core::ptr::NonNull;

use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{BarInfo, Command, DeviceFunction, PciRoot};
use virtio_drivers::{BufferDirection, Hal, PhysAddr as VirtioPhys};

use crate::memory;
use crate::pci::PortCam;

/// The transport of the virtio PCI function at `df`: its memory BARs mapped, the bounce pool
/// filled, bus mastering on.
pub fn pci_transport(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
) -> Result<PciTransport, &'static str> {
    let bars = root.bars(df).map_err(|_| "unreadable PCI BARs")?;
    // Map every assigned memory BAR (uncached) before the transport looks for its registers
    // in them: OVMF puts the 64-bit one far above 4 GiB.
    for bar in bars.iter().flatten() {
        if let BarInfo::Memory { address, size, .. } = *bar
            && address != 0
            && size != 0
        {
            memory::map_mmio(address, size).ok_or("its registers cannot be mapped")?;
        }
    }
    if !reserve_bounce() {
        return Err("out of memory for its DMA buffers");
    }
    root.set_command(
        df,
        Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER,
    );
    PciTransport::new::<VirtioHal, _>(root, df).map_err(|_| "virtio PCI setup failed")
}

/// Largest buffer one `share` may bounce.
pub const BOUNCE_SIZE: usize = 4096;

/// Bounce pages reserved up front: more than a blocking request shares at once.
pub const BOUNCE_PAGES: usize = 4;

/// Free bounce pages (physical addresses).
static BOUNCE: spin::Mutex<alloc::vec::Vec<u64>> = spin::Mutex::new(alloc::vec::Vec::new());

pub struct VirtioHal;

fn virt(phys: u64) -> Option<NonNull<u8>> {
    NonNull::new(memory::phys_to_virt(phys)? as *mut u8)
}

fn bounce_page() -> Option<u64> {
    if let Some(p) = BOUNCE.lock().pop() {
        return Some(p);
    }
    memory::allocate_dma(1).map(|p| p.as_u64())
}

/// Fills the bounce pool to [`BOUNCE_PAGES`]; `false` if memory ran out.
pub fn reserve_bounce() -> bool {
    let mut pool = BOUNCE.lock();
    while pool.len() < BOUNCE_PAGES {
        match memory::allocate_dma(1) {
            Some(p) => pool.push(p.as_u64()),
            None => return false,
        }
    }
    true
}

// SAFETY: `dma_alloc` returns fresh, zeroed, page-aligned frames mapped at `phys + offset`,
// which nothing else uses; `mmio_phys_to_virt` returns the uncached mapping `blk` made of the
// device's BAR with `memory::map_mmio`, covering the whole requested range; `share`
// returns the physical address of a bounce page holding the buffer's bytes that only this
// buffer uses until `unshare`, which copies back and returns the page to the pool.
unsafe impl Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (VirtioPhys, NonNull<u8>) {
        let Some(phys) = memory::allocate_dma(pages as u64) else {
            // virtio-drivers has no way to report failure here; a device is only set up at
            // boot, so running out of memory this early is a broken machine.
            panic!("out of physical memory for virtio rings ({pages} pages)");
        };
        let Some(ptr) = virt(phys.as_u64()) else {
            panic!("virtio DMA before the memory map was set up");
        };
        // SAFETY: the frames are fresh (nobody else uses them) and mapped writable.
        unsafe { core::ptr::write_bytes(ptr.as_ptr(), 0, pages * 4096) };
        (phys.as_u64(), ptr)
    }

    unsafe fn dma_dealloc(_paddr: VirtioPhys, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Rings are kept for the life of the system (see the module doc).
        -1
    }

    unsafe fn mmio_phys_to_virt(paddr: VirtioPhys, size: usize) -> NonNull<u8> {
        match memory::mmio_virt(paddr, size as u64).and_then(|v| NonNull::new(v as *mut u8)) {
            Some(p) => p,
            // `blk` maps every memory BAR of the device before it creates the transport, and
            // virtio-drivers asks only for ranges inside a BAR (it checks them against the
            // BAR's size), so this is not reached.
            None => panic!("virtio MMIO at {paddr:#x} ({size} bytes) was not mapped"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> VirtioPhys {
        let len = buffer.len();
        if len > BOUNCE_SIZE {
            // `blk` splits requests to fit (module invariant), so this is not reached.
            panic!("virtio buffer of {len} bytes cannot be bounced");
        }
        let Some(page) = bounce_page() else {
            // Every page ever shared comes back to the pool, which only grows to the most in
            // use at once: the frame allocator ran dry at boot, while the devices were set up.
            panic!("out of physical memory for a virtio bounce page");
        };
        let Some(dst) = virt(page) else {
            panic!("virtio DMA before the memory map was set up");
        };
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: `buffer` is valid for `len` bytes (caller's promise) and the bounce
            // page is a different, page-sized region owned by this share.
            unsafe {
                core::ptr::copy_nonoverlapping(buffer.as_ptr().cast::<u8>(), dst.as_ptr(), len)
            };
        }
        page
    }

    unsafe fn unshare(paddr: VirtioPhys, buffer: NonNull<[u8]>, direction: BufferDirection) {
        if direction != BufferDirection::DriverToDevice
            && let Some(src) = virt(paddr)
        {
            // SAFETY: `paddr` is the bounce page `share` gave for this buffer, still holding
            // what the device wrote; `buffer` is valid for its length (caller's promise).
            unsafe {
                core::ptr::copy_nonoverlapping(
                    src.as_ptr(),
                    buffer.as_ptr().cast::<u8>(),
                    buffer.len(),
                )
            };
        }
        BOUNCE.lock().push(paddr);
    }
}
