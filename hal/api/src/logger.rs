//! [`LogQueue`]: the `log` crate's logger for bare metal. What third-party crates log through
//! the `log` facade (virtio-drivers, smoltcp) is queued here as text lines, and the kernel's
//! main loop moves them into the system log (`dmesg`, `proc://log`) through [`LogDrain`].
//!
//! A boot crate owns the queue (a `static`), installs it with `log::set_logger` before it
//! brings up the drivers, and hands it to the kernel in its configuration; lines logged before
//! the kernel exists wait in the queue until the kernel's first drain. A board whose crates
//! log nothing installs nothing (the STM32F4: none of its crates uses `log`).
//!
//! A line is `<crate>: <message>` (the record's target cut to its crate, `virtio_drivers`),
//! with `warning: ` or `error: ` before the message for those levels. Control characters in a
//! message become spaces (one record, one line), and a line longer than [`MAX_LINE`] bytes is
//! cut and ends in `...`.
//!
//! Invariants: the queue holds at most `N` bytes of lines and never allocates, so it works
//! before the heap does and from any context. A line that does not fit, or that is logged
//! while the queue is held (an interrupt handler logging during a drain), is dropped and
//! counted; the drain after it reports the count as one line of its own (`log: 3 lines
//! dropped`). Nothing here blocks: the lock is only ever tried.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Longest line kept, in bytes (longer ones are cut).
pub const MAX_LINE: usize = 160;

/// The consumer side of a [`LogQueue`], as the kernel sees it (no capacity in the type).
pub trait LogDrain: Sync {
    /// Hands every queued line to `sink`, oldest first, then a `log: N lines dropped` line if
    /// lines were lost since the last drain; the queue is empty afterwards. Cheap when there is
    /// nothing to drain.
    fn drain(&self, sink: &mut dyn FnMut(&str));
}

impl fmt::Debug for dyn LogDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogDrain")
    }
}

/// A bounded queue of log lines, `N` bytes of them (see the module doc).
pub struct LogQueue<const N: usize> {
    lines: spin::Mutex<Lines<N>>,
    /// Lines lost since the last drain.
    dropped: AtomicU32,
    /// Whether there are lines or a drop count to drain.
    pending: AtomicBool,
}

/// Newline-terminated lines, packed from the start of `bytes`.
struct Lines<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for LogQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogQueue<N> {
    pub const fn new() -> Self {
        LogQueue {
            lines: spin::Mutex::new(Lines {
                bytes: [0; N],
                len: 0,
            }),
            dropped: AtomicU32::new(0),
            pending: AtomicBool::new(false),
        }
    }

    /// Queues one line (without its newline), or counts it as dropped.
    pub fn push(&self, line: &str) {
        let stored = self.lines.try_lock().and_then(|mut lines| {
            let Lines { bytes, len } = &mut *lines;
            let end = *len + line.len() + 1;
            let slot = bytes.get_mut(*len..end)?;
            let (text, newline) = slot.split_at_mut(line.len());
            text.copy_from_slice(line.as_bytes());
            newline[0] = b'\n';
            *len = end;
            Some(())
        });
        if stored.is_none() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.store(true, Ordering::Release);
    }
}

impl<const N: usize> LogDrain for LogQueue<N> {
    fn drain(&self, sink: &mut dyn FnMut(&str)) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        // Held by a producer the main loop interrupted: the lines are drained next time.
        let Some(mut lines) = self.lines.try_lock() else {
            return;
        };
        // Cleared before the drop count is taken: a drop counted after the `swap` below sets
        // it again, so its report is not lost.
        self.pending.store(false, Ordering::Release);
        let Lines { bytes, len } = &mut *lines;
        for line in bytes[..*len].split(|&b| b == b'\n') {
            // Every line was a whole `&str` cut on a char boundary.
            if let Ok(line) = core::str::from_utf8(line)
                && !line.is_empty()
            {
                sink(line);
            }
        }
        *len = 0;
        drop(lines);
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let mut line = LineBuf::new();
            let s = if dropped == 1 { "" } else { "s" };
            let _ = write!(line, "log: {dropped} line{s} dropped");
            sink(line.as_str());
        }
    }
}

impl<const N: usize> log::Log for LogQueue<N> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = LineBuf::new();
        format_record(&mut line, record);
        self.push(line.as_str());
    }

    fn flush(&self) {}
}

/// Writes `record` as a queue line into `line`.
fn format_record(line: &mut LineBuf, record: &log::Record<'_>) {
    let krate = record.target().split("::").next().unwrap_or_default();
    let level = match record.level() {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        _ => "",
    };
    let _ = write!(line, "{krate}: {level}{}", record.args());
    line.finish();
}

/// One line being formatted, on the stack: at most [`MAX_LINE`] bytes, control characters
/// turned into spaces, cut on a char boundary (then ending in `...`) when too long.
struct LineBuf {
    bytes: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl LineBuf {
    const ELLIPSIS: &'static str = "...";

    fn new() -> Self {
        LineBuf {
            bytes: [0; MAX_LINE],
            len: 0,
            cut: false,
        }
    }

    /// Marks a cut line with `...` (room for it was kept).
    fn finish(&mut self) {
        if self.cut {
            let end = self.len + Self::ELLIPSIS.len();
            self.bytes[self.len..end].copy_from_slice(Self::ELLIPSIS.as_bytes());
            self.len = end;
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Err(fmt::Error);
        }
        let room = MAX_LINE - Self::ELLIPSIS.len() - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        for (dst, &b) in self.bytes[self.len..self.len + take]
            .iter_mut()
            .zip(s.as_bytes())
        {
            // ASCII control characters only: UTF-8 stays valid.
            *dst = if b.is_ascii_control() { b' ' } else { b };
        }
        self.len += take;
        if take < s.len() {
            // Stop formatting the rest of the message.
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use log::Log;

    fn drained<const N: usize>(queue: &LogQueue<N>) -> Vec<String> {
        let mut out = Vec::new();
        queue.drain(&mut |line| out.push(line.to_string()));
        out
    }

    /// Logs through `queue` as the `log` macros would (the global logger is not touched).
    fn log_at<const N: usize>(
        queue: &LogQueue<N>,
        level: log::Level,
        target: &str,
        args: fmt::Arguments<'_>,
    ) {
        log::set_max_level(log::LevelFilter::Debug);
        queue.log(
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(args)
                .build(),
        );
    }

    #[test]
    fn lines_carry_the_crate_and_the_level() {
        let queue = LogQueue::<1024>::new();
        assert!(drained(&queue).is_empty());
        let kb = 16384;
        log_at(
            &queue,
            log::Level::Info,
            "virtio_drivers::device::blk",
            format_args!("found a block device of size {kb}KB"),
        );
        log_at(
            &queue,
            log::Level::Warn,
            "virtio_drivers::transport::pci::bus",
            format_args!("Invalid next capability offset {:#04x}", 3),
        );
        log_at(
            &queue,
            log::Level::Error,
            "smoltcp",
            format_args!("two\nlines\tone"),
        );
        // Above the maximum level: not queued.
        log_at(
            &queue,
            log::Level::Trace,
            "smoltcp::iface",
            format_args!("x"),
        );
        assert_eq!(
            drained(&queue),
            [
                "virtio_drivers: found a block device of size 16384KB",
                "virtio_drivers: warning: Invalid next capability offset 0x03",
                "smoltcp: error: two lines one",
            ]
        );
        // Drained means empty.
        assert!(drained(&queue).is_empty());
    }

    #[test]
    fn a_long_line_is_cut_on_a_char_boundary() {
        let queue = LogQueue::<1024>::new();
        let long = "é".repeat(MAX_LINE);
        log_at(&queue, log::Level::Info, "t", format_args!("{long}"));
        let lines = drained(&queue);
        let line = &lines[0];
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        assert!(line.starts_with("t: éé"), "{line}");
        assert!(line.ends_with("é..."), "{line}");
    }

    #[test]
    fn a_full_queue_counts_what_it_drops_and_says_so_once() {
        // Room for exactly three 9-byte lines ("t: line0" and its newline).
        let queue = LogQueue::<27>::new();
        for i in 0..10 {
            log_at(&queue, log::Level::Info, "t", format_args!("line{i}"));
        }
        assert_eq!(
            drained(&queue),
            ["t: line0", "t: line1", "t: line2", "log: 7 lines dropped"]
        );
        // The count was reported; the space is free again.
        log_at(&queue, log::Level::Info, "t", format_args!("again"));
        queue.push("much too long for the room that is left");
        assert_eq!(drained(&queue), ["t: again", "log: 1 line dropped"]);
        assert!(drained(&queue).is_empty());
    }

    #[test]
    fn a_line_logged_while_the_queue_is_held_is_counted() {
        let queue = LogQueue::<256>::new();
        queue.push("before");
        {
            // What an interrupt handler logging in the middle of a drain sees.
            let _held = queue.lines.lock();
            queue.push("during");
        }
        queue.push("after");
        assert_eq!(drained(&queue), ["before", "after", "log: 1 line dropped"]);
        assert_eq!(format!("{:?}", &queue as &dyn LogDrain), "LogDrain");
    }
}
