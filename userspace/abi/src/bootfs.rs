//! The boot archive: the files the image carries (`/bin/<program>`, `/etc/motd`, …), in one
//! flat, read-only, allocation-free format that the kernel reads in place.
//!
//! `cargo xtask` writes it (`xtask/src/bootfs.rs`); on x86_64 it arrives as the bootloader's
//! ramdisk, on the STM32F4 it is embedded in flash. This module is the only reader.
//!
//! Layout (all integers little-endian, no alignment or padding anywhere):
//!
//! ```text
//! magic   6 bytes   "ZBFS1\0"
//! count   u32       number of entries (at most MAX_ENTRIES)
//! entry * count:
//!   path_len  u16   1..=MAX_PATH
//!   data_len  u32
//!   path      path_len bytes: UTF-8, absolute ("/bin/hello"), no NUL, unique in the archive
//!   data      data_len bytes
//! ```
//!
//! Nothing may follow the last entry. Invariant: a [`BootFs`] exists only for bytes that
//! [`BootFs::parse`] checked completely, so [`BootFs::get`] and [`BootFs::iter`] never fail and
//! never panic; every malformed input is [`Error::Corrupt`] (never a panic, whatever the bytes).

use crate::Error;

/// The first bytes of every archive.
pub const MAGIC: [u8; 6] = *b"ZBFS1\0";
/// Bytes before the first entry: magic and count.
pub const HEADER_LEN: usize = MAGIC.len() + 4;
/// Bytes of an entry before its path: path length and data length.
pub const ENTRY_HEADER_LEN: usize = 2 + 4;
/// Longest path.
pub const MAX_PATH: usize = 255;
/// Most entries in one archive (also bounds the duplicate check at parse time).
pub const MAX_ENTRIES: usize = 1024;

/// One file of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The absolute path, e.g. `/bin/hello`.
    pub path: &'a str,
    /// The file's contents.
    pub data: &'a [u8],
}

/// A checked boot archive borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct BootFs<'a> {
    /// The entry region (everything after the header), checked by [`BootFs::parse`].
    entries: &'a [u8],
    count: usize,
}

impl<'a> BootFs<'a> {
    /// Checks `bytes` completely and returns the archive, or [`Error::Corrupt`].
    pub fn parse(bytes: &'a [u8]) -> Result<BootFs<'a>, Error> {
        let rest = bytes.strip_prefix(&MAGIC[..]).ok_or(Error::Corrupt)?;
        let (count, entries) = split_u32(rest).ok_or(Error::Corrupt)?;
        let count = usize::try_from(count).map_err(|_| Error::Corrupt)?;
        if count > MAX_ENTRIES {
            return Err(Error::Corrupt);
        }
        let mut rest = entries;
        for i in 0..count {
            let (entry, next) = split_entry(rest).ok_or(Error::Corrupt)?;
            let valid_path = entry.path.starts_with('/') && !entry.path.contains('\0');
            if !valid_path {
                return Err(Error::Corrupt);
            }
            // Paths are unique: compare with every earlier entry (count <= MAX_ENTRIES).
            let earlier = Iter {
                rest: entries,
                left: i,
            };
            if earlier.into_iter().any(|e| e.path == entry.path) {
                return Err(Error::Corrupt);
            }
            rest = next;
        }
        if !rest.is_empty() {
            return Err(Error::Corrupt);
        }
        Ok(BootFs { entries, count })
    }

    /// The contents of the file at `path` (exact match), if the archive has it.
    pub fn get(&self, path: &str) -> Option<&'a [u8]> {
        self.iter().find(|e| e.path == path).map(|e| e.data)
    }

    /// Every file, in archive order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            rest: self.entries,
            left: self.count,
        }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a> IntoIterator for &BootFs<'a> {
    type Item = Entry<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over the files of a [`BootFs`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        // On a checked archive this always succeeds; `None` would only end iteration early.
        let (entry, rest) = split_entry(self.rest)?;
        self.rest = rest;
        self.left -= 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

fn split_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = b.split_first_chunk::<2>()?;
    Some((u16::from_le_bytes(*head), rest))
}

/// Splits one entry off the front of `b`; `None` if it is truncated, its path is empty, too
/// long or not UTF-8.
fn split_entry(b: &[u8]) -> Option<(Entry<'_>, &[u8])> {
    let (path_len, b) = split_u16(b)?;
    let (data_len, b) = split_u32(b)?;
    let path_len = usize::from(path_len);
    if path_len == 0 || path_len > MAX_PATH {
        return None;
    }
    let data_len = usize::try_from(data_len).ok()?;
    let (path, b) = b.split_at_checked(path_len)?;
    let (data, b) = b.split_at_checked(data_len)?;
    let path = core::str::from_utf8(path).ok()?;
    Some((Entry { path, data }, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec::Vec;

    /// A reference writer (the real one is in xtask), for building test archives.
    fn archive(files: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::from(MAGIC);
        out.extend_from_slice(&(files.len() as u32).to_le_bytes());
        for (path, data) in files {
            out.extend_from_slice(&(path.len() as u16).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(data);
        }
        out
    }

    fn sample() -> Vec<u8> {
        archive(&[
            (b"/bin/hello", b"\0asm\x01\0\0\0"),
            (b"/etc/motd", b"welcome\n"),
            (b"/empty", b""),
        ])
    }

    #[test]
    fn reads_what_was_written() {
        let bytes = sample();
        let fs = BootFs::parse(&bytes).unwrap();
        assert_eq!(fs.len(), 3);
        assert!(!fs.is_empty());
        assert_eq!(fs.get("/etc/motd"), Some(&b"welcome\n"[..]));
        assert_eq!(fs.get("/bin/hello"), Some(&b"\0asm\x01\0\0\0"[..]));
        assert_eq!(fs.get("/empty"), Some(&b""[..]));
        assert_eq!(fs.get("/bin/nope"), None);
        assert_eq!(fs.get("bin/hello"), None);
        let paths: Vec<&str> = fs.iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/bin/hello", "/etc/motd", "/empty"]);
        assert_eq!((&fs).into_iter().count(), 3);
    }

    #[test]
    fn empty_archive_is_valid() {
        let bytes = archive(&[]);
        assert_eq!(bytes.len(), HEADER_LEN);
        let fs = BootFs::parse(&bytes).unwrap();
        assert!(fs.is_empty());
        assert_eq!(fs.iter().next(), None);
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let bytes = sample();
        for n in 0..bytes.len() {
            assert_eq!(
                BootFs::parse(&bytes[..n]).err(),
                Some(Error::Corrupt),
                "truncated to {n} bytes"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_corrupt() {
        let mut bytes = sample();
        bytes.push(0);
        assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
    }

    #[test]
    fn bad_magic_is_corrupt() {
        let good = sample();
        for i in 0..MAGIC.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x20;
            assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
        }
        assert_eq!(
            BootFs::parse(b"\0asm\x01\0\0\0").err(),
            Some(Error::Corrupt)
        );
    }

    #[test]
    fn overflowing_lengths_are_corrupt() {
        // Huge count.
        let mut bytes = sample();
        bytes[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
        // Count one too many / one too few.
        let mut bytes = sample();
        bytes[6..10].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
        bytes[6..10].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
        // Data length past the end, and u32::MAX.
        for len in [9u32, 1 << 31, u32::MAX] {
            let mut bytes = sample();
            bytes[12..16].copy_from_slice(&len.to_le_bytes());
            assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt), "{len}");
        }
        // Path length past the end, over MAX_PATH, and zero.
        for len in [u16::MAX, MAX_PATH as u16 + 1, 0] {
            let mut bytes = sample();
            bytes[10..12].copy_from_slice(&len.to_le_bytes());
            assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt), "{len}");
        }
        // More entries than MAX_ENTRIES, even if they are all there.
        let names: Vec<std::string::String> =
            (0..=MAX_ENTRIES).map(|i| std::format!("/f{i}")).collect();
        let files: Vec<(&[u8], &[u8])> = names.iter().map(|n| (n.as_bytes(), &b""[..])).collect();
        assert_eq!(BootFs::parse(&archive(&files)).err(), Some(Error::Corrupt));
        assert_eq!(
            BootFs::parse(&archive(&files[..MAX_ENTRIES])).map(|f| f.len()),
            Ok(MAX_ENTRIES)
        );
    }

    #[test]
    fn bad_paths_are_corrupt() {
        for path in [
            &b"/bin/\xff"[..],     // not UTF-8
            b"/bin/\xc3",          // truncated UTF-8
            b"bin/hello",          // relative
            b"/bin/a\0b",          // NUL
            &[b'/'; MAX_PATH + 1], // too long
        ] {
            let bytes = archive(&[(path, b"x")]);
            assert_eq!(
                BootFs::parse(&bytes).err(),
                Some(Error::Corrupt),
                "{path:?}"
            );
        }
        let longest = [b'/'; MAX_PATH];
        assert!(BootFs::parse(&archive(&[(&longest, b"x")])).is_ok());
    }

    #[test]
    fn duplicate_paths_are_corrupt() {
        let bytes = archive(&[(b"/a", b"1"), (b"/b", b"2"), (b"/a", b"3")]);
        assert_eq!(BootFs::parse(&bytes).err(), Some(Error::Corrupt));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every single-byte corruption of a valid archive, plus a cheap pseudo-random fuzz.
        let good = sample();
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut bytes = good.clone();
                bytes[i] = v;
                if let Ok(fs) = BootFs::parse(&bytes) {
                    assert!(fs.iter().count() == fs.len());
                }
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut bytes = Vec::from(MAGIC);
            let len = (x % 64) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8 % 8);
            }
            let _ = BootFs::parse(&bytes);
        }
    }
}
