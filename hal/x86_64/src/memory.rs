//! Physical frames, page mapping and the kernel heap.
//!
//! The bootloader maps all physical memory at a fixed offset (`mappings.physical_memory`), so
//! page tables are edited through an [`OffsetPageTable`]. Frames come from the boot memory map
//! by a bump allocator over the usable regions (O(1) per frame; frames are not freed yet — the
//! kernel heap is the only big consumer and lives forever).
//!
//! The heap is mapped in the first unused higher-half PML4 slot (so it can never collide with
//! the bootloader's dynamic mappings) and sized from available memory: half of the usable RAM,
//! at most [`HEAP_MAX`]. It is backed by physically contiguous memory mapped with 2 MiB pages
//! when the memory map has room (32 page-table entries instead of 16384: boot is ~150 ms faster
//! under QEMU's TCG), else with 4 KiB pages.
//!
//! Device registers (PCI memory BARs) are mapped by [`map_mmio`] into a window of their own, the
//! next unused higher-half PML4 slot, uncached. The bootloader's physical-memory mapping is not
//! enough for them: it covers `0..max(end of the memory map, 4 GiB)` with ordinary write-back
//! pages, and OVMF puts 64-bit BARs far above 4 GiB (virtio-blk's at `0xE0_0000_0000` on q35).

use bootloader_api::BootInfo;
use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size2MiB,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};
use zb_hal::{FrameStats, KernelHeap, MemoryReport};

const FRAME_SIZE: u64 = 4096;
/// Upper bound for the kernel heap.
pub const HEAP_MAX: u64 = 64 << 20;
const HEAP_MIN: u64 = 4 << 20;
/// The heap's reserve for runs that exhaust it (`zb_hal::KernelHeap::arm_reserve`).
const HEAP_RESERVE: usize = 64 << 10;
const HUGE: u64 = 2 << 20;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::new();

/// The kernel heap (for `Platform::heap`).
pub fn heap() -> &'static KernelHeap {
    &HEAP
}

/// Hands out usable frames in address order.
struct BumpFrames {
    regions: &'static mut [MemoryRegion],
    region: usize,
    next: u64,
    used: u64,
    total: u64,
}

impl BumpFrames {
    fn new(regions: &'static mut [MemoryRegion]) -> Self {
        let total = regions
            .iter()
            .filter(|r| r.kind == MemoryRegionKind::Usable)
            .map(|r| (align_down(r.end) - align_up(r.start)) / FRAME_SIZE)
            .sum();
        BumpFrames {
            regions,
            region: 0,
            next: 0,
            used: 0,
            total,
        }
    }

    fn free(&self) -> u64 {
        self.total - self.used
    }

    /// Takes `bytes` of physically contiguous memory aligned to `align` (both multiples of the
    /// frame size) from the top of the last usable region with room for it, and shrinks that
    /// region so the bump cursor never hands those frames out. Frames between the range and
    /// the region's old end (alignment slack) are counted as used.
    fn allocate_contiguous(&mut self, bytes: u64, align: u64) -> Option<PhysAddr> {
        let floor = self.next;
        let r = self.regions.iter_mut().rev().find(|r| {
            let low = r.start.max(floor).max(FRAME_SIZE);
            r.kind == MemoryRegionKind::Usable
                && r.end >= bytes
                && (r.end - bytes) / align * align >= low
        })?;
        let start = (r.end - bytes) / align * align;
        let old_end = align_down(r.end);
        r.end = start;
        self.used += (old_end - start) / FRAME_SIZE;
        Some(PhysAddr::new(start))
    }
}

unsafe impl FrameAllocator<Size4KiB> for BumpFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        while let Some(r) = self.regions.get(self.region) {
            if r.kind == MemoryRegionKind::Usable {
                // Skip frame 0: a null physical address is too easy to confuse with "none".
                let start = align_up(r.start.max(FRAME_SIZE)).max(self.next);
                if start + FRAME_SIZE <= align_down(r.end) {
                    self.next = start + FRAME_SIZE;
                    self.used += 1;
                    return Some(PhysFrame::containing_address(PhysAddr::new(start)));
                }
            }
            self.region += 1;
        }
        None
    }
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(FRAME_SIZE) * FRAME_SIZE
}

fn align_down(x: u64) -> u64 {
    x / FRAME_SIZE * FRAME_SIZE
}

static FRAMES: spin::Once<spin::Mutex<BumpFrames>> = spin::Once::new();
/// The active page tables, for mappings made after [`init`] (device registers).
static MAPPER: spin::Once<spin::Mutex<Mmio>> = spin::Once::new();
static RAM_TOTAL: spin::Once<u64> = spin::Once::new();
/// Where the bootloader mapped all physical memory (at least the first 4 GiB).
static PHYS_OFFSET: spin::Once<u64> = spin::Once::new();

/// The virtual address of physical address `phys`, through the bootloader's mapping of
/// physical memory (which covers RAM and at least the first 4 GiB, MMIO included); `None`
/// before [`init`].
pub fn phys_to_virt(phys: u64) -> Option<u64> {
    PHYS_OFFSET.get().map(|o| o + phys)
}

/// Device-register mappings: the page tables, the window's next free address, and what is
/// mapped so far (physical start, length, virtual start), all page-aligned.
struct Mmio {
    mapper: OffsetPageTable<'static>,
    next: VirtAddr,
    /// Bytes of the window after `next`.
    left: u64,
    mapped: alloc::vec::Vec<(u64, u64, VirtAddr)>,
}

/// Maps the device registers at physical `phys..phys + len` uncached, writable and
/// no-execute, and returns the virtual address of `phys`; a range inside one mapped before is
/// not mapped again. `None` before [`init`], for an empty or overflowing range, or when the
/// window or memory for page tables runs out. Only for MMIO: RAM is reached through
/// [`phys_to_virt`].
pub fn map_mmio(phys: u64, len: u64) -> Option<u64> {
    if let Some(virt) = mmio_virt(phys, len) {
        return Some(virt);
    }
    let start = align_down(phys);
    let end = align_down(phys.checked_add(len.checked_sub(1)?)?).checked_add(FRAME_SIZE)?;
    let mut mmio = MAPPER.get()?.lock();
    let virt = mmio.next;
    if mmio.left < end - start {
        return None;
    }
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_EXECUTE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH;
    let mut frames = FRAMES.get()?.lock();
    for offset in (0..end - start).step_by(FRAME_SIZE as usize) {
        let page = Page::<Size4KiB>::containing_address(virt + offset);
        let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(start + offset));
        // SAFETY: `page` lies in the MMIO window, a PML4 slot only this function maps into,
        // below its bump cursor's new value, so it aliases no other mapping; `frame` is device
        // memory (the caller's BAR), never handed out by the frame allocator, mapped uncached.
        match unsafe { mmio.mapper.map_to(page, frame, flags, &mut *frames) } {
            Ok(flush) => flush.flush(),
            // Out of frames for page tables; pages mapped so far stay unused.
            Err(_) => return None,
        }
    }
    mmio.next = virt + (end - start);
    mmio.left -= end - start;
    mmio.mapped.push((start, end - start, virt));
    Some(virt.as_u64() + (phys - start))
}

/// The virtual address of the device registers at `phys..phys + len` if [`map_mmio`] mapped
/// all of them.
pub fn mmio_virt(phys: u64, len: u64) -> Option<u64> {
    let end = phys.checked_add(len)?;
    let mmio = MAPPER.get()?.lock();
    mmio.mapped
        .iter()
        .find(|&&(start, size, _)| start <= phys && end <= start + size)
        .map(|&(start, _, virt)| virt.as_u64() + (phys - start))
}

/// Takes `frames` physically contiguous frames for device DMA, never returned (the drivers
/// allocate their rings once); `None` when memory is exhausted.
pub fn allocate_dma(frames: u64) -> Option<PhysAddr> {
    FRAMES
        .get()?
        .lock()
        .allocate_contiguous(frames * FRAME_SIZE, FRAME_SIZE)
}

pub fn init(boot_info: &'static mut BootInfo) {
    let Some(phys_offset) = boot_info.physical_memory_offset.into_option() else {
        panic!("bootloader did not map physical memory (mappings.physical_memory unset)");
    };
    PHYS_OFFSET.call_once(|| phys_offset);
    let regions: &'static mut [MemoryRegion] = &mut boot_info.memory_regions;
    let mut frames = BumpFrames::new(regions);
    RAM_TOTAL.call_once(|| frames.total * FRAME_SIZE);

    // Heap pages are mapped no-execute; make sure the CPU honours the NX bit.
    // SAFETY: setting EFER.NXE only enables the NX page-table bit; nothing maps with it yet.
    unsafe { Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE)) };

    // SAFETY: the bootloader maps all physical memory at `phys_offset` and CR3 points to the
    // active level-4 table; this is the only `OffsetPageTable` created for it.
    let mut mapper = unsafe {
        let (l4_frame, _) = Cr3::read();
        let l4_virt = VirtAddr::new(phys_offset + l4_frame.start_address().as_u64());
        OffsetPageTable::new(
            &mut *l4_virt.as_mut_ptr::<PageTable>(),
            VirtAddr::new(phys_offset),
        )
    };

    let heap_size = (frames.free() * FRAME_SIZE / 2).clamp(HEAP_MIN, HEAP_MAX) / HUGE * HUGE;
    let Some(heap_start) = free_higher_half_slot(mapper.level_4_table()) else {
        panic!("no free PML4 slot for the kernel heap");
    };
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    if let Some(phys) = frames.allocate_contiguous(heap_size, HUGE) {
        for offset in (0..heap_size).step_by(HUGE as usize) {
            let page = Page::<Size2MiB>::containing_address(heap_start + offset);
            let frame = PhysFrame::<Size2MiB>::containing_address(phys + offset);
            // SAFETY: `page` lies in a PML4 slot nothing else uses and `frame` is part of a
            // freshly taken contiguous range, so the mapping aliases nothing.
            match unsafe { mapper.map_to(page, frame, flags, &mut frames) } {
                Ok(flush) => flush.flush(),
                Err(e) => panic!("mapping heap page {:?} failed: {e:?}", page.start_address()),
            }
        }
    } else {
        let first = Page::<Size4KiB>::containing_address(heap_start);
        let last = Page::<Size4KiB>::containing_address(heap_start + (heap_size - 1));
        for page in Page::range_inclusive(first, last) {
            let Some(frame) = frames.allocate_frame() else {
                panic!("out of physical memory while mapping the {heap_size}-byte kernel heap");
            };
            // SAFETY: as above; `frame` is fresh from the allocator.
            match unsafe { mapper.map_to(page, frame, flags, &mut frames) } {
                Ok(flush) => flush.flush(),
                Err(e) => panic!("mapping heap page {:?} failed: {e:?}", page.start_address()),
            }
        }
    }
    // SAFETY: the range was just mapped writable, is used by nothing else, and this is the
    // only initialisation of the heap.
    unsafe { HEAP.init(heap_start.as_mut_ptr(), heap_size as usize) };
    // Nothing is allocated yet, so this cannot fail (and if it did, the heap simply has no
    // reserve: an exhaustion would then be a panic, as without it).
    HEAP.arm_reserve(HEAP_RESERVE);
    FRAMES.call_once(|| spin::Mutex::new(frames));

    // The MMIO window: the next free higher-half slot after the heap's (512 GiB; none if
    // there is no free slot, and then no device can be mapped).
    let window = free_higher_half_slot(mapper.level_4_table());
    MAPPER.call_once(|| {
        spin::Mutex::new(Mmio {
            mapper,
            next: window.unwrap_or(VirtAddr::zero()),
            // One below a slot's 512 GiB: `next` never becomes the (non-canonical) address
            // past the last slot.
            left: if window.is_some() {
                (1 << 39) - FRAME_SIZE
            } else {
                0
            },
            mapped: alloc::vec::Vec::new(),
        })
    });
}

/// The start address of the first empty PML4 entry in the higher half, if there is one.
fn free_higher_half_slot(l4: &PageTable) -> Option<VirtAddr> {
    // Sign-extend bit 47: index 256.. is the canonical higher half.
    (256..512)
        .find(|&i| l4[i].is_unused())
        .map(|i| VirtAddr::new_truncate(0xFFFF_0000_0000_0000 | ((i as u64) << 39)))
}

pub fn report() -> MemoryReport {
    let frames = FRAMES.get().map(|f| {
        let f = x86_64::instructions::interrupts::without_interrupts(|| {
            let f = f.lock();
            (f.used, f.total)
        });
        FrameStats {
            used: f.0,
            total: f.1,
            frame_size: FRAME_SIZE,
        }
    });
    MemoryReport {
        ram_total: RAM_TOTAL.get().copied().unwrap_or(0),
        heap: HEAP.stats(),
        frames,
    }
}
