//! [`Text`]: text built in place in a caller's buffer, without `core::fmt` or an allocator —
//! what the small programs (and the ledger reducer, which may import nothing) write their
//! numbers and JSON with. Included by path (`#[path = "../text.rs"] mod text;`).
//!
//! Invariants: nothing is written past the buffer (what does not fit is dropped); no panics.

#![allow(dead_code)]

/// Text written into a borrowed buffer.
pub struct Text<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Text<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Text { buf, len: 0 }
    }

    /// Appends `bytes` (as much as fits).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    pub fn push_str(&mut self, s: &str) -> &mut Self {
        self.push(s.as_bytes())
    }

    /// Appends `v` in decimal.
    pub fn push_u64(&mut self, mut v: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while let Some(d) = i.checked_sub(1).and_then(|j| digits.get_mut(j)) {
            *d = b'0' + (v % 10) as u8;
            i -= 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or(&[]))
    }

    /// Appends `v` in decimal, with `-` if negative.
    pub fn push_i64(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.push(b"-");
        }
        self.push_u64(v.unsigned_abs())
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}
