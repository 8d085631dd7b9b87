//! The run's arguments: fetched once into a caller's buffer, then borrowed.
//!
//! Wire form (the `args` and `spawn` imports): each argument followed by a NUL byte, e.g.
//! `"-n\05\0"` for `["-n", "5"]`. The program name is not part of it. A missing final NUL is
//! tolerated when reading.

use crate::{Error, len32, ptr32, sys};

/// The arguments, as bytes (the shell passes UTF-8, but nothing guarantees it; convert with
/// [`Args::get_str`] where text is needed — byte access links no UTF-8 validation code).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Args<'a> {
    bytes: &'a [u8],
}

/// Copies this run's arguments into `buf` and returns them. [`Error::TooLarge`] if they do
/// not fit (the shell limits a line to 1 KiB, so 1 KiB always suffices for arguments typed
/// there).
pub fn args(buf: &mut [u8]) -> Result<Args<'_>, Error> {
    let cap = len32(buf.len())?;
    // SAFETY: the kernel writes at most `cap` bytes at `buf`, which we borrow mutably.
    let total = crate::decode(unsafe { sys::args(ptr32(buf.as_mut_ptr()), cap) })?;
    let total = usize::try_from(total).map_err(|_| Error::TooLarge)?;
    let bytes = buf.get(..total).ok_or(Error::TooLarge)?;
    Ok(Args::new(bytes))
}

impl<'a> Args<'a> {
    /// Arguments in wire form.
    pub const fn new(bytes: &'a [u8]) -> Args<'a> {
        Args { bytes }
    }

    /// The arguments in order.
    pub fn iter(&self) -> ArgsIter<'a> {
        ArgsIter { rest: self.bytes }
    }

    /// The `i`-th argument.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.iter().nth(i)
    }

    /// The `i`-th argument as text; `None` if there is none or it is not UTF-8.
    pub fn get_str(&self, i: usize) -> Option<&'a str> {
        core::str::from_utf8(self.get(i)?).ok()
    }

    /// The `i`-th argument as a decimal number: `None` if absent, `Some(Err)` if it is not one.
    pub fn get_u64(&self, i: usize) -> Option<Result<u64, Error>> {
        self.get(i)
            .map(|a| parse_u64(a).ok_or(Error::InvalidArgument))
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<'a> IntoIterator for Args<'a> {
    type Item = &'a [u8];
    type IntoIter = ArgsIter<'a>;

    fn into_iter(self) -> ArgsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Args`].
#[derive(Debug, Clone)]
pub struct ArgsIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.iter().position(|&b| b == 0);
        let (arg, rest) = match end {
            Some(n) => (self.rest.get(..n), self.rest.get(n + 1..)),
            None => (Some(self.rest), None),
        };
        self.rest = rest.unwrap_or(&[]);
        arg
    }
}

/// Parses an unsigned decimal number (digits only, no sign or spaces), without `core::str`.
pub fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = u64::from(d - b'0');
        // Overflow check without a 128-bit multiply: n * 10 + d <= u64::MAX.
        if n > (u64::MAX - d) / 10 {
            return None;
        }
        n = n * 10 + d;
    }
    Some(n)
}

/// Parses a decimal number with an optional leading `-`, without `core::str`.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    match text.split_first() {
        Some((b'-', digits)) => {
            let n = parse_u64(digits)?;
            if n == i64::MIN.unsigned_abs() {
                Some(i64::MIN)
            } else {
                i64::try_from(n).ok().map(|n| -n)
            }
        }
        _ => i64::try_from(parse_u64(text)?).ok(),
    }
}

/// Encodes `args` in wire form into `buf`; returns the used part. [`Error::InvalidArgument`]
/// if an argument contains NUL, [`Error::TooLarge`] if `buf` is too small.
pub fn encode_args<'b>(args: &[&str], buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let mut len = 0;
    for arg in args {
        if arg.contains('\0') {
            return Err(Error::InvalidArgument);
        }
        let end = len + arg.len();
        let slot = buf.get_mut(len..end).ok_or(Error::TooLarge)?;
        // A zip rather than `copy_from_slice`: equal lengths, and no panic path linked.
        for (dst, src) in slot.iter_mut().zip(arg.as_bytes()) {
            *dst = *src;
        }
        *buf.get_mut(end).ok_or(Error::TooLarge)? = 0;
        len = end + 1;
    }
    Ok(buf.get(..len).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(bytes: &[u8]) -> ([&[u8]; 8], usize) {
        let mut out: [&[u8]; 8] = [b""; 8];
        let mut n = 0;
        for (i, a) in Args::new(bytes).iter().enumerate() {
            out[i] = a;
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn splits_on_nul() {
        assert_eq!(split(b"").1, 0);
        let (a, n) = split(b"one\0");
        assert_eq!(&a[..n], [b"one"]);
        let (a, n) = split(b"one\0two words\0three\0");
        assert_eq!(&a[..n], [&b"one"[..], b"two words", b"three"]);
        let (a, n) = split(b"\0");
        assert_eq!(&a[..n], [b""]);
        let (a, n) = split(b"a\0\0b\0");
        assert_eq!(&a[..n], [&b"a"[..], b"", b"b"]);
        // No final NUL: the last argument still counts.
        let (a, n) = split(b"a\0b");
        assert_eq!(&a[..n], [b"a", b"b"]);
    }

    #[test]
    fn accessors() {
        let args = Args::new(b"x\0yy\0\xff\x00042\0-1\0");
        assert_eq!(args.len(), 5);
        assert!(!args.is_empty());
        assert_eq!(args.get(1), Some(&b"yy"[..]));
        assert_eq!(args.get(5), None);
        assert_eq!(args.get_str(1), Some("yy"));
        assert_eq!(args.get_str(2), None, "not UTF-8");
        assert_eq!(args.get_u64(3), Some(Ok(42)));
        assert_eq!(args.get_u64(4), Some(Err(Error::InvalidArgument)));
        assert_eq!(args.get_u64(9), None);
        assert_eq!(args.into_iter().last(), Some(&b"-1"[..]));
        assert!(Args::default().is_empty());
        assert_eq!(Args::default().len(), 0);
    }

    #[test]
    fn numbers_parse_without_core_str() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        for bad in [&b""[..], b"-1", b"+1", b" 1", b"1 ", b"1a", b"0x10"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_i64(b"-3"), Some(-3));
        assert_eq!(parse_i64(b"7"), Some(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"--1"), None);
    }

    #[test]
    fn encodes_round_trip() {
        let mut buf = [0u8; 32];
        let wire = encode_args(&["ping", "", "10"], &mut buf).unwrap();
        assert_eq!(wire, b"ping\0\0\x31\x30\0");
        let args = Args::new(wire);
        let mut it = args.iter();
        assert_eq!(
            (it.next(), it.next(), it.next(), it.next()),
            (Some(&b"ping"[..]), Some(&b""[..]), Some(&b"10"[..]), None)
        );
        assert_eq!(encode_args(&[], &mut buf), Ok(&b""[..]));
    }

    #[test]
    fn encode_limits() {
        let mut buf = [0u8; 4];
        assert_eq!(encode_args(&["abc"], &mut buf), Ok(&b"abc\0"[..]));
        assert_eq!(encode_args(&["abcd"], &mut buf), Err(Error::TooLarge));
        assert_eq!(encode_args(&["a", "bc"], &mut buf), Err(Error::TooLarge));
        assert_eq!(
            encode_args(&["a\0b"], &mut buf),
            Err(Error::InvalidArgument)
        );
        assert_eq!(encode_args(&["x"], &mut []), Err(Error::TooLarge));
    }
}
