//! [`KernelHeap`]: the global allocator of every bare-metal platform.
//!
//! A first-fit linked-list heap (the `linked_list_allocator` crate, chosen because it is small,
//! `no_std`, audited by wide use in hobby and research kernels, and reports used/free bytes)
//! behind a spin lock.
//!
//! Invariants: the heap is initialised exactly once, before the first allocation, with memory
//! that nothing else uses. Interrupt handlers never allocate (they only push into
//! [`crate::InputRing`]), so the lock can never be re-entered from an interrupt on the single
//! CPU the kernel runs on.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use linked_list_allocator::Heap;
use spin::Mutex;

use crate::HeapStats;

pub struct KernelHeap {
    heap: Mutex<Heap>,
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

    pub fn stats(&self) -> HeapStats {
        let heap = self.heap.lock();
        HeapStats {
            used: heap.used(),
            free: heap.free(),
            total: heap.size(),
        }
    }
}

// SAFETY: allocation is serialised by the mutex; `Heap` upholds the GlobalAlloc contract
// (returns blocks of the requested layout that do not overlap live blocks).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.heap
            .lock()
            .allocate_first_fit(layout)
            .map_or(ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: the GlobalAlloc contract guarantees `ptr` came from `alloc` with `layout`.
            unsafe { self.heap.lock().deallocate(p, layout) };
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
}
