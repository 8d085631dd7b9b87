//! [`KernelHeap`]: the global allocator of every bare-metal platform.
//!
//! A first-fit linked-list heap (the `linked_list_allocator` crate, chosen because it is small,
//! `no_std`, audited by wide use in hobby and research kernels, and reports used/free bytes)
//! behind a spin lock.
//!
//! An allocation that fails aborts the kernel (Rust's allocation-failure rule), and wasmi and
//! the kernel allocate on behalf of runs, so a run that takes the heap to its last byte would
//! otherwise be a kernel panic. Hence a *reserve* ([`KernelHeap::arm_reserve`]): one block
//! held back from everything. When an allocation finds no room, the reserve is given back to
//! the heap and the allocation retried; the kernel, told by [`KernelHeap::reserve_spent`] after
//! the run's slice, ends the run that was executing and arms the reserve again.
//!
//! Invariants: the heap is initialised exactly once, before the first allocation, with memory
//! that nothing else uses. The reserve block is owned by the heap alone while armed. Interrupt handlers never allocate (they only push into
//! [`crate::InputRing`]), so the lock can never be re-entered from an interrupt on the single
//! CPU the kernel runs on.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use linked_list_allocator::Heap;
use spin::Mutex;

use crate::HeapStats;

/// Most blocks [`KernelHeap::fits`] tries at once.
pub const PROBE_BLOCKS: usize = 4;

/// Allocations up to this size prefer the second region ([`KernelHeap::add_region`]).
const SMALL_BLOCK: usize = 512;

pub struct KernelHeap {
    heap: Mutex<Heap>,
    /// A second, disjoint region (a microcontroller's other RAM bank): small blocks go there
    /// first, large ones when the first region has no room ([`KernelHeap::add_region`]).
    extra: Mutex<Heap>,
    /// The armed reserve block's address (0: not armed), and its size.
    reserve_at: AtomicUsize,
    reserve_bytes: AtomicUsize,
    /// The reserve was handed out since the last [`KernelHeap::reserve_spent`].
    spent: AtomicBool,
}

impl Default for KernelHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl KernelHeap {
    pub const fn new() -> Self {
        KernelHeap {
            heap: Mutex::new(Heap::empty()),
            extra: Mutex::new(Heap::empty()),
            reserve_at: AtomicUsize::new(0),
            reserve_bytes: AtomicUsize::new(0),
            spent: AtomicBool::new(false),
        }
    }

    /// Hands the heap its memory.
    ///
    /// # Safety
    /// `start..start+size` must be valid, writable memory used by nothing else for the rest of
    /// the program, and this must be called once, before any allocation.
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.heap.lock().init(start, size) };
    }

    /// Holds `bytes` back as the reserve (see the module doc); false if the heap cannot spare
    /// them now. Arming an armed reserve does nothing.
    pub fn arm_reserve(&self, bytes: usize) -> bool {
        let mut heap = self.heap.lock();
        if self.reserve_at.load(Ordering::Acquire) != 0 {
            return true;
        }
        let Ok(layout) = Layout::from_size_align(bytes.max(1), 16) else {
            return false;
        };
        match heap.allocate_first_fit(layout) {
            Ok(block) => {
                self.reserve_bytes.store(layout.size(), Ordering::Release);
                self.reserve_at
                    .store(block.as_ptr().expose_provenance(), Ordering::Release);
                true
            }
            Err(()) => false,
        }
    }

    /// Whether the reserve was needed since the last call (the heap ran out). If it was, it
    /// is armed again when the heap can spare it.
    pub fn reserve_spent(&self) -> bool {
        let spent = self.spent.swap(false, Ordering::AcqRel);
        if spent {
            let bytes = self.reserve_bytes.load(Ordering::Acquire);
            self.arm_reserve(bytes);
        }
        spent
    }

    /// Whether the reserve is armed, arming it first if it is not and the heap can spare it
    /// now. While it is not, nothing stands between the next failed allocation and a panic:
    /// the kernel starts no new run then.
    pub fn reserve_ready(&self) -> bool {
        if self.reserve_at.load(Ordering::Acquire) != 0 {
            return true;
        }
        let bytes = self.reserve_bytes.load(Ordering::Acquire);
        bytes != 0 && self.arm_reserve(bytes)
    }

    /// Gives the reserve back to `heap` (held locked by the caller); false if none is armed.
    fn release_reserve(&self, heap: &mut Heap) -> bool {
        let at = self.reserve_at.swap(0, Ordering::AcqRel);
        let bytes = self.reserve_bytes.load(Ordering::Acquire);
        let (Some(block), Ok(layout)) = (
            NonNull::new(ptr::with_exposed_provenance_mut::<u8>(at)),
            Layout::from_size_align(bytes.max(1), 16),
        ) else {
            return false;
        };
        // SAFETY: `at` is the block `arm_reserve` allocated from this heap with this layout;
        // swapping the address to 0 made this the only release of it.
        unsafe { heap.deallocate(block, layout) };
        self.spent.store(true, Ordering::Release);
        true
    }

    /// Adds a second region, for small blocks first and large ones when the first region has
    /// no room (once; a second call does nothing).
    ///
    /// # Safety
    /// As for [`KernelHeap::init`]: `start..start+size` is valid, writable memory that nothing
    /// else uses for the rest of the program, disjoint from the first region.
    pub unsafe fn add_region(&self, start: *mut u8, size: usize) {
        let mut extra = self.extra.lock();
        if extra.size() == 0 {
            // SAFETY: forwarded from this function's contract.
            unsafe { extra.init(start, size) };
        }
    }

    /// Whether allocations of `sizes` bytes (16-byte aligned; zeros skipped), all held at
    /// once, would find free blocks now, without the reserve: the blocks are taken, in order,
    /// and given straight back (first fit, so the free lists are as they were). At most
    /// [`PROBE_BLOCKS`] sizes are tried; more is `false`.
    pub fn fits(&self, sizes: &[usize]) -> bool {
        if sizes.len() > PROBE_BLOCKS {
            return false;
        }
        let (mut heap, mut extra) = (self.heap.lock(), self.extra.lock());
        let mut taken: [Option<(NonNull<u8>, Layout, bool)>; PROBE_BLOCKS] = [None; PROBE_BLOCKS];
        let mut all = true;
        for (slot, &bytes) in taken.iter_mut().zip(sizes) {
            if bytes == 0 {
                continue;
            }
            let Ok(layout) = Layout::from_size_align(bytes, 16) else {
                all = false;
                break;
            };
            *slot = match heap.allocate_first_fit(layout) {
                Ok(p) => Some((p, layout, false)),
                Err(()) => extra
                    .allocate_first_fit(layout)
                    .ok()
                    .map(|p| (p, layout, true)),
            };
            if slot.is_none() {
                all = false;
                break;
            }
        }
        for (block, layout, in_extra) in taken.into_iter().flatten() {
            let region = if in_extra { &mut extra } else { &mut heap };
            // SAFETY: `block` was just allocated from this region with `layout`, and nothing
            // else saw it.
            unsafe { region.deallocate(block, layout) };
        }
        all
    }

    pub fn stats(&self) -> HeapStats {
        let (heap, extra) = (self.heap.lock(), self.extra.lock());
        HeapStats {
            used: heap.used() + extra.used(),
            free: heap.free() + extra.free(),
            total: heap.size() + extra.size(),
        }
    }
}

// SAFETY: allocation is serialised by the mutex; `Heap` upholds the GlobalAlloc contract
// (returns blocks of the requested layout that do not overlap live blocks).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Small blocks go to the second region first, large ones to the first: the many small
        // long-lived allocations (log lines, messages, tables) then do not cut the first
        // region's free space into pieces too small for a run's memory or compiled code.
        let small = layout.size() <= SMALL_BLOCK;
        if small && let Ok(p) = self.extra.lock().allocate_first_fit(layout) {
            return p.as_ptr();
        }
        let mut heap = self.heap.lock();
        if let Ok(p) = heap.allocate_first_fit(layout) {
            return p.as_ptr();
        }
        if !small && let Ok(p) = self.extra.lock().allocate_first_fit(layout) {
            return p.as_ptr();
        }
        // A request larger than the reserve would fail anyway: it fails now, as without a
        // reserve (most such requests are fallible ones — a `memory.grow`, a value stack
        // growing — which their callers turn into an error for the run).
        if layout.size() > self.reserve_bytes.load(Ordering::Acquire)
            || !self.release_reserve(&mut heap)
        {
            return ptr::null_mut();
        }
        heap.allocate_first_fit(layout)
            .map_or(ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            let mut extra = self.extra.lock();
            let in_extra = extra.size() > 0
                && (extra.bottom().addr()..extra.top().addr()).contains(&ptr.addr());
            if in_extra {
                // SAFETY: the GlobalAlloc contract guarantees `ptr` came from `alloc` with
                // `layout`; it lies in the second region, so that heap handed it out.
                unsafe { extra.deallocate(p, layout) };
            } else {
                drop(extra);
                // SAFETY: as above; it is not in the second region, so the first handed it out.
                unsafe { self.heap.lock().deallocate(p, layout) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn counts_used_and_free() {
        let mut arena = std::vec![0u64; 8192];
        let heap = KernelHeap::new();
        // SAFETY: the arena outlives `heap` within this test and is used by nothing else.
        unsafe { heap.init(arena.as_mut_ptr().cast(), arena.len() * 8) };
        let total = heap.stats().total;
        assert_eq!(total, 65536);
        let layout = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: plain use of the allocator API with a valid layout.
        let p = unsafe { heap.alloc(layout) };
        assert!(!p.is_null());
        let s = heap.stats();
        assert!(s.used >= 1000 && s.used + s.free == total);
        // SAFETY: `p` came from `alloc` with `layout`.
        unsafe { heap.dealloc(p, layout) };
        assert_eq!(heap.stats().used, 0);
        let huge = Layout::from_size_align(1 << 20, 8).unwrap();
        // SAFETY: as above; a request larger than the heap must fail cleanly.
        assert!(unsafe { heap.alloc(huge) }.is_null());
    }

    /// `fits` tells free bytes in one piece from free bytes in pieces, takes nothing, and
    /// leaves the reserve alone.
    #[test]
    fn fits_looks_for_one_free_block() {
        let mut arena = std::vec![0u64; 8192];
        let heap = KernelHeap::new();
        // SAFETY: the arena outlives `heap` within this test and is used by nothing else.
        unsafe { heap.init(arena.as_mut_ptr().cast(), arena.len() * 8) };
        assert!(heap.arm_reserve(4096));
        // Eight 4 KiB blocks with 4 KiB holes between them: half the heap free, in pieces.
        let block = Layout::from_size_align(4096, 16).unwrap();
        // SAFETY: plain use of the allocator API with a valid layout.
        let blocks: std::vec::Vec<*mut u8> =
            (0..14).map(|_| unsafe { heap.alloc(block) }).collect();
        assert!(blocks.iter().all(|p| !p.is_null()));
        for p in blocks.iter().step_by(2) {
            // SAFETY: each came from `alloc` with `block`.
            unsafe { heap.dealloc(*p, block) };
        }
        let before = heap.stats();
        assert!(before.free >= 7 * 4096);
        assert!(heap.fits(&[4096]));
        assert!(heap.fits(&[4096, 4096, 0, 4096]));
        assert!(!heap.fits(&[8192]), "free, but not in one piece");
        assert!(
            !heap.fits(&[4096; PROBE_BLOCKS + 1]),
            "more sizes than it tries"
        );
        assert_eq!(heap.stats().used, before.used, "nothing taken");
        assert!(!heap.reserve_spent(), "the reserve is not used by a probe");
        for p in blocks.iter().skip(1).step_by(2) {
            // SAFETY: as above.
            unsafe { heap.dealloc(*p, block) };
        }
        assert!(heap.fits(&[8 * 4096]));
    }

    #[test]
    fn the_reserve_saves_an_allocation_once_and_is_rearmed() {
        let mut arena = std::vec![0u64; 8192];
        let heap = KernelHeap::new();
        // SAFETY: the arena outlives `heap` within this test and is used by nothing else.
        unsafe { heap.init(arena.as_mut_ptr().cast(), arena.len() * 8) };
        assert!(heap.arm_reserve(8192));
        let free = heap.stats().free;
        let big = Layout::from_size_align(free - 64, 8).unwrap();
        // SAFETY: plain use of the allocator API with valid layouts.
        let a = unsafe { heap.alloc(big) };
        assert!(!a.is_null());
        assert!(!heap.reserve_spent());
        let more = Layout::from_size_align(4096, 8).unwrap();
        // SAFETY: as above. No room left: the reserve makes room.
        let b = unsafe { heap.alloc(Layout::from_size_align(6000, 8).unwrap()) };
        assert!(!b.is_null());
        // SAFETY: as above. The reserve is gone: a further big request fails cleanly.
        assert!(unsafe { heap.alloc(more) }.is_null());
        // SAFETY: `a` came from `alloc` with `big`.
        unsafe { heap.dealloc(a, big) };
        assert!(heap.reserve_spent(), "the kernel is told once");
        assert!(!heap.reserve_spent());
        // Re-armed from the space `a` freed: it saves the next shortage too.
        // SAFETY: as above.
        let c = unsafe { heap.alloc(Layout::from_size_align(heap.stats().free, 8).unwrap()) };
        assert!(!c.is_null());
        // SAFETY: as above.
        assert!(!unsafe { heap.alloc(more) }.is_null());
        assert!(heap.reserve_spent());
    }

    #[test]
    fn a_second_region_takes_what_the_first_cannot() {
        let mut a = std::vec![0u64; 1024];
        let mut b = std::vec![0u64; 1024];
        let heap = KernelHeap::new();
        // SAFETY: the arenas outlive `heap` within this test, are disjoint and used by nothing
        // else.
        unsafe {
            heap.init(a.as_mut_ptr().cast(), 8192);
            heap.add_region(b.as_mut_ptr().cast(), 8192);
        }
        assert_eq!(heap.stats().total, 16384);
        let layout = Layout::from_size_align(6000, 8).unwrap();
        // SAFETY: plain use of the allocator API; each block is freed with its layout.
        unsafe {
            let p = heap.alloc(layout);
            let q = heap.alloc(layout);
            assert!(!p.is_null() && !q.is_null());
            assert!(heap.alloc(layout).is_null());
            heap.dealloc(q, layout);
            heap.dealloc(p, layout);
        }
        assert_eq!(heap.stats().used, 0);
        // Small blocks fill the second region first, so the first keeps its large block.
        let small = Layout::from_size_align(256, 8).unwrap();
        let region_b = b.as_ptr().addr()..b.as_ptr().addr() + 8192;
        // SAFETY: as above.
        unsafe {
            let s = heap.alloc(small);
            assert!(region_b.contains(&s.addr()));
            let p = heap.alloc(layout);
            assert!(!p.is_null() && !region_b.contains(&p.addr()));
            heap.dealloc(p, layout);
            heap.dealloc(s, small);
        }
        assert_eq!(heap.stats().used, 0);
    }
}
