//! The run's arguments: fetched once into a caller's buffer, then borrowed.
//!
//! Wire form (the `args` and `spawn` imports): each argument followed by a NUL byte, e.g.
//! `"-n\05\0"` for `["-n", "5"]`. The program name is not part of it. A missing final NUL is
//! tolerated when reading.

use crate::{Error, len32, ptr32, sys};

/// The arguments, checked to be UTF-8.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Args<'a> {
    text: &'a str,
}

/// Copies this run's arguments into `buf` and returns them. [`Error::TooLarge`] if they do
/// not fit (the shell limits a line to 1 KiB, so 1 KiB always suffices for arguments typed
/// there); [`Error::InvalidArgument`] if they are not UTF-8.
pub fn args(buf: &mut [u8]) -> Result<Args<'_>, Error> {
    let cap = len32(buf.len())?;
    // SAFETY: the kernel writes at most `cap` bytes at `buf`, which we borrow mutably.
    let total = crate::decode(unsafe { sys::args(ptr32(buf.as_mut_ptr()), cap) })?;
    let total = usize::try_from(total).map_err(|_| Error::TooLarge)?;
    let bytes = buf.get(..total).ok_or(Error::TooLarge)?;
    Args::parse(bytes)
}

impl<'a> Args<'a> {
    /// Reads arguments in wire form.
    pub fn parse(bytes: &'a [u8]) -> Result<Args<'a>, Error> {
        let text = core::str::from_utf8(bytes).map_err(|_| Error::InvalidArgument)?;
        Ok(Args { text })
    }

    /// The arguments in order.
    pub fn iter(&self) -> ArgsIter<'a> {
        ArgsIter { rest: self.text }
    }

    /// The `i`-th argument.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.iter().nth(i)
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl<'a> IntoIterator for Args<'a> {
    type Item = &'a str;
    type IntoIter = ArgsIter<'a>;

    fn into_iter(self) -> ArgsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Args`].
#[derive(Debug, Clone)]
pub struct ArgsIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let (arg, rest) = self.rest.split_once('\0').unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(arg)
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

    fn split(bytes: &[u8]) -> ([&str; 8], usize) {
        let mut out = [""; 8];
        let mut n = 0;
        for (i, a) in Args::parse(bytes).unwrap().iter().enumerate() {
            out[i] = a;
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn splits_on_nul() {
        assert_eq!(split(b"").1, 0);
        let (a, n) = split(b"one\0");
        assert_eq!(&a[..n], ["one"]);
        let (a, n) = split(b"one\0two words\0three\0");
        assert_eq!(&a[..n], ["one", "two words", "three"]);
        let (a, n) = split(b"\0");
        assert_eq!(&a[..n], [""]);
        let (a, n) = split(b"a\0\0b\0");
        assert_eq!(&a[..n], ["a", "", "b"]);
        // No final NUL: the last argument still counts.
        let (a, n) = split(b"a\0b");
        assert_eq!(&a[..n], ["a", "b"]);
    }

    #[test]
    fn accessors() {
        let args = Args::parse(b"x\0yy\0").unwrap();
        assert_eq!(args.len(), 2);
        assert!(!args.is_empty());
        assert_eq!(args.get(1), Some("yy"));
        assert_eq!(args.get(2), None);
        assert_eq!(args.into_iter().last(), Some("yy"));
        assert!(Args::default().is_empty());
        assert_eq!(Args::default().len(), 0);
    }

    #[test]
    fn non_utf8_is_rejected() {
        assert_eq!(Args::parse(b"a\0\xff\0"), Err(Error::InvalidArgument));
    }

    #[test]
    fn encodes_round_trip() {
        let mut buf = [0u8; 32];
        let wire = encode_args(&["ping", "", "10"], &mut buf).unwrap();
        assert_eq!(wire, b"ping\0\0\x31\x30\0");
        let args = Args::parse(wire).unwrap();
        let mut it = args.iter();
        assert_eq!(
            (it.next(), it.next(), it.next(), it.next()),
            (Some("ping"), Some(""), Some("10"), None)
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
