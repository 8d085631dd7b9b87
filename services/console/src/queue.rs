//! The console's output queue: what waits for the wire, in order, written out a little per
//! tick so that the kernel loop never waits long on the UART.
//!
//! The queue holds wire bytes (already escaped and with `\r\n`) in segments, each the run's
//! whose output it is or the client's (the shell's; `None`), so that a run's can be dropped.
//!
//! Pace: [`Queue::drain`] writes from the front in [`CHUNK`]-byte writes, checking the clock
//! between them, for at most [`DRAIN_US`] microseconds and [`DRAIN_MAX`] bytes per tick, and
//! the console asks for its next tick at once while anything waits (so the line gets the
//! loop's spare time, and runs and input get their turn between ticks). A console write
//! returns once the UART has taken the bytes, so on a 115200-baud line (≈ 11.5 bytes/ms) a
//! tick holds the loop for at most about `DRAIN_US` plus one chunk (8 bytes ≈ 0.7 ms) and
//! writes what the line carries meanwhile plus what its FIFO holds (a 16550's 16 bytes on a
//! PC; the STM32F4's USART1 has none). Under QEMU the UART takes bytes as fast as they come
//! and a tick writes [`DRAIN_MAX`] (1 KiB), so output does not slow the test suites.
//!
//! Invariants: the queue's bytes are exactly those not yet written, and its segments' lengths
//! add up to their number; run output is taken only while [`Queue::room`] is not 0 (the kernel
//! keeps the rest queued, charged to the runs), so the queue holds at most [`QUEUE_BYTES`]
//! plus one write of run output (its output window) plus as much of the client's; its
//! buffers are given back to the heap whenever it is empty; a heap that cannot take more never
//! aborts (the caller writes the queue out at once instead, or drops a run's bytes).
//!
//! Size: 4 KiB on every platform. On the STM32F4 (1 KiB output windows) a smaller queue would
//! be full under QEMU whenever a run writes more than a window between two ticks, and the
//! runs' output would wait in the kernel instead, one event per write — more memory for the
//! same bytes, in a queue that keeps its size.

use alloc::vec::Vec;

use zb_abi::{Pid, System};

/// Run output the console keeps for the wire before it takes no more.
pub const QUEUE_BYTES: usize = 4096;
/// Most bytes one tick writes.
pub const DRAIN_MAX: usize = 1024;
/// Longest a tick writes, in microseconds.
pub const DRAIN_US: u64 = 500;
/// Bytes per console write while draining.
pub const CHUNK: usize = 8;

/// See the module documentation.
#[derive(Default)]
pub struct Queue {
    /// The bytes not yet written, in order.
    bytes: Vec<u8>,
    /// Whose they are (`None`: the client's) and how many, in order.
    segments: Vec<(Option<Pid>, usize)>,
}

impl Queue {
    /// Bytes waiting for the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Run output the queue takes before it is full (then 0).
    pub fn room(&self) -> usize {
        QUEUE_BYTES.saturating_sub(self.bytes.len())
    }

    /// Whether `n` more client bytes may wait here: as many as [`QUEUE_BYTES`] (more, and the
    /// queue is written out at once; this bounds the copy of the shell's own output, which is
    /// bounded by what the operator asked for).
    pub fn client_fits(&self, n: usize) -> bool {
        let client: usize = self
            .segments
            .iter()
            .filter(|(from, _)| from.is_none())
            .map(|&(_, n)| n)
            .sum();
        client + n <= QUEUE_BYTES
    }

    /// Appends what `write` appends to the bytes as `from`'s, with room reserved for
    /// `reserve` bytes first; false, with nothing appended, if the heap has no room.
    /// `reserve` must bound what `write` appends: past it the vector would grow by itself,
    /// and a heap that cannot take that aborts.
    pub fn push_with(
        &mut self,
        from: Option<Pid>,
        reserve: usize,
        write: &mut dyn FnMut(&mut Vec<u8>),
    ) -> bool {
        if self.bytes.try_reserve(reserve).is_err() || self.segments.try_reserve(1).is_err() {
            return false;
        }
        let before = self.bytes.len();
        write(&mut self.bytes);
        let added = self.bytes.len() - before;
        debug_assert!(
            added <= reserve,
            "wrote {added} bytes with {reserve} reserved"
        );
        match self.segments.last_mut() {
            _ if added == 0 => self.release(),
            Some((f, n)) if *f == from => *n += added,
            _ => self.segments.push((from, added)),
        }
        true
    }

    /// The last byte queued, if any.
    pub fn last(&self) -> Option<u8> {
        self.bytes.last().copied()
    }

    /// Writes queued bytes to `wire`: with `limited`, for at most [`DRAIN_US`] and
    /// [`DRAIN_MAX`] bytes, and no more than the wire has room for
    /// ([`zb_abi::Console::console_room`]); otherwise all of them. Returns whether it stopped
    /// because the wire had no room.
    pub fn drain(&mut self, wire: &mut dyn System, limited: bool) -> bool {
        let start = wire.clock_us();
        let mut written = 0;
        let mut full = false;
        while let Some((_, left)) = self.segments.first_mut() {
            let room = if limited {
                wire.console_room()
            } else {
                usize::MAX
            };
            if room == 0 {
                full = true;
                break;
            }
            let n = (*left).min(CHUNK).min(room);
            wire.console_write(self.bytes.get(written..written + n).unwrap_or_default());
            written += n;
            *left -= n;
            if *left == 0 {
                self.segments.remove(0);
            }
            if limited
                && (written >= DRAIN_MAX || wire.clock_us().saturating_sub(start) >= DRAIN_US)
            {
                break;
            }
        }
        self.bytes.drain(..written);
        self.release();
        full
    }

    /// Gives the buffers back when they are empty: a flood's does not stay taken from runs.
    fn release(&mut self) {
        if self.bytes.is_empty() {
            *self = Queue::default();
        }
    }

    /// Drops what run `pid` has queued.
    pub fn drop_run(&mut self, pid: Pid) {
        let mut end = self.bytes.len();
        for i in (0..self.segments.len()).rev() {
            let (from, n) = self.segments[i];
            if from == Some(pid) {
                self.bytes.drain(end - n..end);
                self.segments.remove(i);
            }
            end -= n;
        }
        self.release();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::cell::Cell;
    use zb_abi::{Console, MemInfo, SysInfo};

    /// A UART at 115200 baud with no FIFO: each byte takes 87 µs.
    #[derive(Default)]
    struct Line {
        wire: Vec<u8>,
        writes: usize,
        now: Cell<u64>,
        us_per_byte: u64,
        /// A terminal whose writes never wait (a browser page): bytes it takes before it has
        /// shown them; `None`, a UART (no limit).
        room: Option<usize>,
    }
    impl Console for Line {
        fn console_write(&mut self, bytes: &[u8]) {
            self.wire.extend_from_slice(bytes);
            self.writes += 1;
            self.now
                .set(self.now.get() + self.us_per_byte * bytes.len() as u64);
            if let Some(room) = &mut self.room {
                *room = room.saturating_sub(bytes.len());
            }
        }
        fn console_room(&self) -> usize {
            self.room.unwrap_or(usize::MAX)
        }
    }
    impl System for Line {
        fn clock_us(&self) -> u64 {
            self.now.get()
        }
        fn cycles(&self) -> u64 {
            0
        }
        fn sysinfo(&self) -> SysInfo {
            SysInfo {
                version: "0",
                platform: "test",
                machine: "line",
                profile: "debug",
                boot_us: 0,
            }
        }
        fn meminfo(&self) -> MemInfo {
            MemInfo::default()
        }
    }

    fn push(q: &mut Queue, from: Option<Pid>, bytes: &[u8]) {
        assert!(q.push_with(from, bytes.len(), &mut |v| v.extend_from_slice(bytes)));
    }

    #[test]
    fn a_tick_writes_at_most_its_budget_in_order() {
        let mut q = Queue::default();
        push(&mut q, Some(3), &[b'a'; 3000]);
        push(&mut q, None, b"prompt");
        push(&mut q, Some(3), b"b");
        assert_eq!((q.len(), q.room()), (3007, QUEUE_BYTES - 3007));
        // An instant UART (QEMU): DRAIN_MAX per tick.
        let mut fast = Line::default();
        q.drain(&mut fast, true);
        assert_eq!(fast.wire.len(), DRAIN_MAX);
        assert_eq!(fast.writes, DRAIN_MAX / CHUNK);
        // A 115200-baud line without FIFO: about DRAIN_US worth.
        let mut slow = Line {
            us_per_byte: 87,
            ..Line::default()
        };
        q.drain(&mut slow, true);
        assert!(slow.now.get() < DRAIN_US + 87 * CHUNK as u64);
        assert!(slow.wire.len() >= CHUNK && slow.wire.len() <= 2 * CHUNK);
        q.drain(&mut fast, false);
        let tail = &fast.wire[fast.wire.len() - 7..];
        assert_eq!(tail, b"promptb");
        assert_eq!(fast.wire.len() + slow.wire.len(), 3007);
        assert!(q.is_empty() && q.segments.is_empty());
    }

    #[test]
    fn a_tick_writes_no_more_than_the_wire_takes() {
        let mut q = Queue::default();
        push(&mut q, Some(3), &[b'a'; 100]);
        push(&mut q, None, b"prompt");
        let mut page = Line {
            room: Some(21),
            ..Line::default()
        };
        assert!(q.drain(&mut page, true), "stopped for want of room");
        assert_eq!(page.wire.len(), 21);
        assert!(q.drain(&mut page, true));
        assert_eq!(page.wire.len(), 21, "nothing while it has no room");
        page.room = Some(usize::MAX);
        assert!(!q.drain(&mut page, true));
        assert_eq!(page.wire.len(), 106);
        assert_eq!(&page.wire[100..], b"prompt");
        // Writing all of it out (client output that must keep its order) ignores room.
        push(&mut q, Some(3), b"late");
        page.room = Some(0);
        assert!(!q.drain(&mut page, false));
        assert!(q.is_empty());
    }

    #[test]
    fn a_runs_output_is_dropped_even_when_partly_written() {
        let mut q = Queue::default();
        push(&mut q, Some(4), &[b'x'; 20]);
        push(&mut q, None, b"^C");
        push(&mut q, Some(5), b"other");
        push(&mut q, Some(4), b"more");
        let mut line = Line::default();
        // Some of run 4's first segment is on the wire already.
        let mut step = Line {
            us_per_byte: 1000,
            ..Line::default()
        };
        q.drain(&mut step, true);
        assert_eq!(step.wire.len(), CHUNK);
        q.drop_run(4);
        assert_eq!(q.len(), 2 + 5);
        q.drain(&mut line, false);
        assert_eq!(line.wire, b"^Cother");
        assert_eq!(q.last(), None);
    }

    #[test]
    fn empty_writes_leave_no_segment() {
        let mut q = Queue::default();
        assert!(q.push_with(Some(1), 4, &mut |_| {}));
        assert!(q.segments.is_empty());
        assert_eq!(
            (q.bytes.capacity(), q.segments.capacity()),
            (0, 0),
            "nothing kept"
        );
        assert!(q.client_fits(QUEUE_BYTES) && !q.client_fits(QUEUE_BYTES + 1));
    }
}
