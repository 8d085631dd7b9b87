//! [`InputRing`]: a lock-free single-producer single-consumer byte queue.
//!
//! The producer is an interrupt handler (a UART receive interrupt); the consumer is the
//! kernel's main loop. Neither ever blocks: a full ring drops the new byte and counts it.
//!
//! Invariants: only one context calls [`InputRing::push`] and only one calls
//! [`InputRing::pop`]; `head` is written only by the producer, `tail` only by the consumer;
//! `head - tail <= N` (indices grow without bound and wrap modulo 2^usize; `N` is a power of
//! two so the wrap is consistent).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub struct InputRing<const N: usize> {
    buf: UnsafeCell<[u8; N]>,
    /// Next slot the producer writes.
    head: AtomicUsize,
    /// Next slot the consumer reads.
    tail: AtomicUsize,
    dropped: AtomicU32,
}

// SAFETY: the buffer is shared between exactly one producer and one consumer (module
// invariant). The producer writes slot `head % N` only while it is not readable (`head - tail <
// N`) and publishes it with a Release store of `head`; the consumer reads a slot only after an
// Acquire load of `head` shows it, and frees it with a Release store of `tail`. No slot is ever
// accessed by both sides at once.
unsafe impl<const N: usize> Sync for InputRing<N> {}

impl<const N: usize> Default for InputRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> InputRing<N> {
    pub const fn new() -> Self {
        assert!(N.is_power_of_two(), "InputRing size must be a power of two");
        InputRing {
            buf: UnsafeCell::new([0; N]),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU32::new(0),
        }
    }

    /// Producer side. Returns false (and counts a drop) when the ring is full.
    pub fn push(&self, byte: u8) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // SAFETY: slot `head % N` is not readable by the consumer until `head` is published
        // below, and only this (single) producer writes slots.
        unsafe { (*self.buf.get())[head % N] = byte };
        self.head.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer side.
    pub fn pop(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        // SAFETY: `tail != head`, so slot `tail % N` was published by the producer's Release
        // store that our Acquire load observed, and the producer will not rewrite it until we
        // advance `tail`.
        let byte = unsafe { (*self.buf.get())[tail % N] };
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(byte)
    }

    /// Consumer side: pops up to `out.len()` bytes.
    pub fn pop_into(&self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            match self.pop() {
                Some(b) => {
                    out[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }

    pub fn dropped(&self) -> u64 {
        u64::from(self.dropped.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn fifo_order_and_full_ring_drops() {
        let r = InputRing::<4>::new();
        assert!(r.is_empty());
        for b in 1..=4 {
            assert!(r.push(b));
        }
        assert!(!r.push(5), "full ring refuses");
        assert_eq!(r.dropped(), 1);
        assert_eq!(r.len(), 4);
        let mut out = [0; 8];
        assert_eq!(r.pop_into(&mut out), 4);
        assert_eq!(&out[..4], &[1, 2, 3, 4]);
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn wraps_around_many_times() {
        let r = InputRing::<8>::new();
        for i in 0..10_000u32 {
            assert!(r.push(i as u8));
            assert!(r.push((i >> 8) as u8));
            assert_eq!(r.pop(), Some(i as u8));
            assert_eq!(r.pop(), Some((i >> 8) as u8));
        }
        assert!(r.is_empty());
    }

    #[test]
    fn concurrent_producer_and_consumer_keep_order() {
        static RING: InputRing<64> = InputRing::new();
        let producer = std::thread::spawn(|| {
            let mut sent = 0u32;
            while sent < 100_000 {
                if RING.push(sent as u8) {
                    sent += 1;
                }
            }
        });
        let mut expect = 0u32;
        while expect < 100_000 {
            if let Some(b) = RING.pop() {
                assert_eq!(b, expect as u8);
                expect += 1;
            }
        }
        producer.join().unwrap();
    }
}
