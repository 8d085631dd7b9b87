//! Output: stdout and stderr through the `write` import.
//!
//! Two levels, so that programs that do not format stay small:
//! - plain bytes and strings: [`write`], [`write_all`], [`print_str`], [`eprint_str`],
//!   [`fmt_u64`]/[`fmt_i64`] to turn numbers into text, and [`BufWriter`]'s `push_str`,
//!   `push_u64`, `push_i64` to build a line — all without `core::fmt`;
//! - formatting: [`print!`](crate::print), [`println!`](crate::println),
//!   [`eprint!`](crate::eprint), [`eprintln!`](crate::eprintln) render through a
//!   [`BufWriter`] on the stack (128 bytes), so a line usually costs one `write` call.
//!
//! Output errors are ignored by the printing functions and macros (there is nowhere to report
//! them); use [`write`]/[`write_all`] to see them.

use core::fmt;

use crate::{Error, decode, ptr32, sys};
use zb_abi::syscall::{MAX_WRITE, STDERR, STDOUT};

/// An output stream of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (stream 1).
    Stdout,
    /// Standard error (stream 2).
    Stderr,
}

impl Stream {
    /// The ABI stream number.
    pub const fn number(self) -> i32 {
        match self {
            Stream::Stdout => STDOUT,
            Stream::Stderr => STDERR,
        }
    }
}

/// One `write` call: writes up to [`MAX_WRITE`] bytes of `bytes`; how many were written.
pub fn write(stream: Stream, bytes: &[u8]) -> Result<usize, Error> {
    let len = bytes.len().min(MAX_WRITE);
    // `len <= MAX_WRITE` fits an i32.
    // SAFETY: the kernel reads `len <= bytes.len()` bytes at `bytes`, which we borrow.
    let n = decode(unsafe { sys::write(stream.number(), ptr32(bytes.as_ptr()), len as i32) })?;
    Ok(usize::try_from(n).unwrap_or(len).min(len))
}

/// Writes all of `bytes`, in as many `write` calls as it takes. A call that writes nothing
/// is reported as [`Error::Closed`] (rather than retried forever).
pub fn write_all(stream: Stream, mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let n = write(stream, bytes)?;
        if n == 0 {
            return Err(Error::Closed);
        }
        bytes = bytes.get(n..).unwrap_or(&[]);
    }
    Ok(())
}

/// Writes `s` to stdout (no newline added; errors ignored).
pub fn print_str(s: &str) {
    let _ = write_all(Stream::Stdout, s.as_bytes());
}

/// Writes `s` to stderr (no newline added; errors ignored).
pub fn eprint_str(s: &str) {
    let _ = write_all(Stream::Stderr, s.as_bytes());
}

/// Standard output as a [`fmt::Write`] (unbuffered: one `write` per piece).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

/// Standard error as a [`fmt::Write`] (unbuffered: one `write` per piece).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(Stream::Stdout, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(Stream::Stderr, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// A stack buffer in front of a stream: collects output and writes it when full, on
/// [`BufWriter::flush`], and when dropped. The first error sticks and is returned by `flush`.
/// (The work is done by non-generic code, so each buffer size costs no extra code.)
#[derive(Debug)]
pub struct BufWriter<const N: usize> {
    buf: [u8; N],
    out: Out,
}

/// The size-independent half of a [`BufWriter`].
#[derive(Debug)]
struct Out {
    stream: Stream,
    len: usize,
    error: Option<Error>,
}

impl Out {
    fn push(&mut self, buf: &mut [u8], mut bytes: &[u8]) {
        if buf.is_empty() {
            self.send(bytes);
            return;
        }
        while !bytes.is_empty() {
            if self.len >= buf.len() {
                self.drain(buf);
            }
            // Copy with a zip (not `copy_from_slice`): no length check, so no panic path.
            let room = buf.get_mut(self.len..).unwrap_or(&mut []);
            let mut n = 0;
            for (dst, src) in room.iter_mut().zip(bytes) {
                *dst = *src;
                n += 1;
            }
            self.len += n;
            bytes = bytes.get(n..).unwrap_or(&[]);
        }
    }

    fn drain(&mut self, buf: &[u8]) {
        let len = core::mem::take(&mut self.len);
        if len > 0 {
            self.send(buf.get(..len).unwrap_or(&[]));
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.error.is_none()
            && let Err(e) = write_all(self.stream, bytes)
        {
            self.error = Some(e);
        }
    }

    fn push_u64(&mut self, buf: &mut [u8], n: u64) {
        let mut digits = [0; 20];
        self.push(buf, digits_u64(n, &mut digits));
    }

    fn push_i64(&mut self, buf: &mut [u8], n: i64) {
        let mut digits = [0; 20];
        self.push(buf, digits_i64(n, &mut digits));
    }

    fn flush(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.drain(buf);
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<const N: usize> BufWriter<N> {
    /// An empty buffer in front of `stream`.
    pub const fn new(stream: Stream) -> Self {
        BufWriter {
            buf: [0; N],
            out: Out {
                stream,
                len: 0,
                error: None,
            },
        }
    }

    /// Adds bytes, writing out whenever the buffer fills.
    pub fn push(&mut self, bytes: &[u8]) {
        self.out.push(&mut self.buf, bytes);
    }

    /// Adds a string.
    pub fn push_str(&mut self, s: &str) -> &mut Self {
        self.out.push(&mut self.buf, s.as_bytes());
        self
    }

    /// Adds a number in decimal, without `core::fmt`.
    pub fn push_u64(&mut self, n: u64) -> &mut Self {
        self.out.push_u64(&mut self.buf, n);
        self
    }

    /// Adds a signed number in decimal, without `core::fmt`.
    pub fn push_i64(&mut self, n: i64) -> &mut Self {
        self.out.push_i64(&mut self.buf, n);
        self
    }

    /// Writes out what is buffered; the first error since creation, if any.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out.flush(&self.buf)
    }
}

impl<const N: usize> fmt::Write for BufWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Drop for BufWriter<N> {
    fn drop(&mut self) {
        self.out.drain(&self.buf);
    }
}

/// The buffer size the printing macros use.
pub const PRINT_BUFFER: usize = 128;

#[doc(hidden)]
pub fn _print(stream: Stream, args: fmt::Arguments<'_>, newline: bool) {
    let mut w = BufWriter::<PRINT_BUFFER>::new(stream);
    let _ = fmt::Write::write_fmt(&mut w, args);
    if newline {
        w.push(b"\n");
    }
    let _ = w.flush();
}

/// Prints to stdout, like `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::io::_print($crate::io::Stream::Stdout, format_args!($($arg)*), false)
    };
}

/// Prints a line to stdout, like `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::io::print_str("\n")
    };
    ($($arg:tt)*) => {
        $crate::io::_print($crate::io::Stream::Stdout, format_args!($($arg)*), true)
    };
}

/// Prints to stderr, like `std::eprint!`.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::io::_print($crate::io::Stream::Stderr, format_args!($($arg)*), false)
    };
}

/// Prints a line to stderr, like `std::eprintln!`.
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::io::eprint_str("\n")
    };
    ($($arg:tt)*) => {
        $crate::io::_print($crate::io::Stream::Stderr, format_args!($($arg)*), true)
    };
}

/// Renders `n` in decimal into `buf` without `core::fmt` (and without a panic path, so a
/// program using only this and [`print_str`] links no formatting code at all).
pub fn fmt_u64(n: u64, buf: &mut [u8; 20]) -> &str {
    core::str::from_utf8(digits_u64(n, buf)).unwrap_or("?")
}

/// Renders `n` in decimal (with a leading `-` when negative) into `buf` without `core::fmt`.
pub fn fmt_i64(n: i64, buf: &mut [u8; 20]) -> &str {
    core::str::from_utf8(digits_i64(n, buf)).unwrap_or("?")
}

/// `n` in decimal ASCII, at the end of `buf`.
fn digits_u64(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = n;
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    tail(buf, len)
}

/// `n` in decimal ASCII with a leading `-` when negative, at the end of `buf`.
fn digits_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let len = digits_u64(n.unsigned_abs(), buf).len();
    if n >= 0 {
        return tail(buf, len);
    }
    // `i64::MIN` has 19 digits, so there is always room for the sign.
    let sign_at = buf.len().saturating_sub(len + 1);
    if let Some(slot) = buf.get_mut(sign_at) {
        *slot = b'-';
    }
    tail(buf, len + 1)
}

/// The last `len` bytes of `buf`.
fn tail(buf: &[u8], len: usize) -> &[u8] {
    buf.get(buf.len().saturating_sub(len)..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_without_fmt() {
        let mut b = [0; 20];
        assert_eq!(fmt_u64(0, &mut b), "0");
        assert_eq!(fmt_u64(7, &mut b), "7");
        assert_eq!(fmt_u64(1234567890, &mut b), "1234567890");
        assert_eq!(fmt_u64(u64::MAX, &mut b), "18446744073709551615");
        assert_eq!(fmt_i64(0, &mut b), "0");
        assert_eq!(fmt_i64(-42, &mut b), "-42");
        assert_eq!(fmt_i64(i64::MAX, &mut b), "9223372036854775807");
        assert_eq!(fmt_i64(i64::MIN, &mut b), "-9223372036854775808");
    }

    #[test]
    fn buffered_writer_reports_the_first_error() {
        // Off wasm32 every write fails with Unsupported.
        let mut w = BufWriter::<4>::new(Stream::Stderr);
        assert_eq!(w.flush(), Ok(()), "nothing buffered, nothing written");
        w.push(b"abcdefghij");
        assert_eq!(w.flush(), Err(Error::Unsupported));
        let mut w = BufWriter::<0>::new(Stream::Stdout);
        w.push(b"x");
        assert_eq!(w.flush(), Err(Error::Unsupported));
    }

    #[test]
    fn streams_have_abi_numbers() {
        assert_eq!(Stream::Stdout.number(), 1);
        assert_eq!(Stream::Stderr.number(), 2);
    }
}
