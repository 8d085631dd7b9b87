//! Human-readable formatting of sizes and durations, shared by the kernel's boot banner and
//! userspace tools so that both print numbers the same way. Allocation-free.

use core::fmt::{self, Write};

/// A small stack buffer to format into, so that [`fmt::Formatter::pad`] can align the result.
struct StackStr {
    buf: [u8; 32],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        StackStr {
            buf: [0; 32],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in (see `write_str`), so this cannot fail; an
        // empty string is a harmless fallback.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A byte count: `512 B`, `12.3 KiB`, `64.0 MiB`, `1.5 GiB`.
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        let mut s = StackStr::new();
        if self.0 < 1024 {
            write!(s, "{} B", self.0)?;
            return f.pad(s.as_str());
        }
        let mut unit = 0;
        let mut scaled = self.0 as f64 / 1024.0;
        while scaled >= 1024.0 && unit < UNITS.len() - 1 {
            scaled /= 1024.0;
            unit += 1;
        }
        write!(s, "{scaled:.1} {}", UNITS[unit])?;
        f.pad(s.as_str())
    }
}

/// Why a size did not parse ([`parse_size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// No leading digits, or not a number.
    Malformed,
    /// A suffix other than `K`, `M`, `G` (either case).
    UnknownUnit,
    /// A number of more digits than `u64` can hold.
    TooLarge,
    /// A number that fits, but not once scaled by its unit.
    Overflow,
}

/// A size as users write it: `65536`, `64K`, `2M`, `1G` (binary multiples; `k`, `m`, `g`
/// too). The one parser for sizes (the shell's `run --kmem`, init's manifest).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        _ if number.is_empty() => return Err(SizeError::Malformed),
        _ => return Err(SizeError::UnknownUnit),
    };
    if number.is_empty() {
        return Err(SizeError::Malformed);
    }
    let n: u64 = number.parse().map_err(|_| SizeError::TooLarge)?;
    n.checked_mul(scale).ok_or(SizeError::Overflow)
}

/// A duration given in microseconds: `[Nd ]HH:MM:SS.mmm`.
pub struct Uptime(pub u64);

impl fmt::Display for Uptime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1000;
        let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
        let (h, m, s, milli) = (
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1000 % 60,
            rest % 1000,
        );
        if days > 0 {
            write!(f, "{days}d ")?;
        }
        write!(f, "{h:02}:{m:02}:{s:02}.{milli:03}")
    }
}

/// Microseconds as milliseconds with three decimals: `12.345 ms`.
pub struct Millis(pub u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03} ms", self.0 / 1000, self.0 % 1000)
    }
}

/// A fixed-size text buffer for `core::fmt` (no heap): writes past its size are cut at a
/// character boundary and reported as `fmt::Error`.
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedBuf<N> {
    pub const fn new() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s (or their prefixes at char boundaries) are ever copied in.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn bytes() {
        assert_eq!(format!("{}", Bytes(0)), "0 B");
        assert_eq!(format!("{}", Bytes(1023)), "1023 B");
        assert_eq!(format!("{}", Bytes(1024)), "1.0 KiB");
        assert_eq!(format!("{}", Bytes(12_600)), "12.3 KiB");
        assert_eq!(format!("{}", Bytes(64 << 20)), "64.0 MiB");
        assert_eq!(format!("{}", Bytes(3 << 30)), "3.0 GiB");
        assert_eq!(format!("{}", Bytes(u64::MAX)), "16777216.0 TiB");
        assert_eq!(format!("{:>9}", Bytes(1024)), "  1.0 KiB");
    }

    #[test]
    fn uptime() {
        assert_eq!(format!("{}", Uptime(0)), "00:00:00.000");
        assert_eq!(format!("{}", Uptime(83_456_789)), "00:01:23.456");
        assert_eq!(format!("{}", Uptime(90_061_001_000)), "1d 01:01:01.001");
    }

    #[test]
    fn millis() {
        assert_eq!(format!("{}", Millis(12_345)), "12.345 ms");
        assert_eq!(format!("{}", Millis(7)), "0.007 ms");
    }
}
