//! What a mounted file system offers the service, and the name rules every one of them shares.
//!
//! Job: one small trait ([`FileSystem`]) that the ramfs and the FAT adapter implement, so the
//! service's request handling (flags, handles, positions, mount points) is written once.
//!
//! Paths given to a file system are *mount-relative* and already checked by the service:
//! `/` (the mount's root) or `/c1/…/cn`, normalised, every component non-empty, at most
//! [`MAX_NAME`] bytes, without NUL. A file system never sees `.`, `..` or an empty component,
//! so it cannot be asked for anything outside itself.
//!
//! Error precedence every implementation follows (what a user sees first):
//! 1. the path: a missing component is `NotFound`, a file where a directory is needed on the
//!    way is `NotADirectory`;
//! 2. the object: `AlreadyExists`, `IsADirectory`, `NotADirectory`, `DirectoryNotEmpty`;
//! 3. the file system: `ReadOnly`, then `NoSpace`.

use zb_abi::Error;
use zb_abi::scheme::{FileKind, FsInfo, MAX_NAME, Stat};

/// A mounted file system, addressed by mount-relative paths (see the module docs).
///
/// Every method that changes something leaves the file system consistent whether it
/// succeeds or fails; [`FileSystem::sync`] then makes the change durable.
pub trait FileSystem {
    /// The type shown by `mount`: `ramfs`, `fat12`, `fat16`, `fat32`.
    fn type_name(&self) -> &'static str;
    /// The device shown by `mount`: `bootfs`, `virtio-blk`, `flash`, or `-` for none.
    fn device(&self) -> &'static str;
    /// Whether every change is refused with `ReadOnly`.
    fn read_only(&self) -> bool;

    fn stat(&mut self, path: &str) -> Result<Stat, Error>;
    /// Creates an empty file; `AlreadyExists` if `path` names anything.
    fn create(&mut self, path: &str, now: u64) -> Result<(), Error>;
    /// Cuts the file at `path` to length 0.
    fn truncate(&mut self, path: &str, now: u64) -> Result<(), Error>;
    /// Reads at `pos` into `buf` (as much as is there and fits); 0 at or past the end.
    fn read(&mut self, path: &str, pos: u64, buf: &mut [u8]) -> Result<usize, Error>;
    /// Writes `data` at `pos`, extending the file (with zeros up to `pos` if it lies past
    /// the end). Returns how many bytes were written: all of them, or fewer only if the
    /// file system filled up after some were written (then a retry reports `NoSpace`).
    fn write(&mut self, path: &str, pos: u64, data: &[u8], now: u64) -> Result<usize, Error>;
    /// Calls `visit` with the entries of the directory at `path`, in a stable order,
    /// starting after the first `skip`, until `visit` returns false or the entries end.
    fn read_dir(
        &mut self,
        path: &str,
        skip: u64,
        visit: &mut dyn FnMut(FileKind, &str) -> bool,
    ) -> Result<(), Error>;
    fn mkdir(&mut self, path: &str, now: u64) -> Result<(), Error>;
    /// Removes a file (`IsADirectory` for a directory).
    fn unlink(&mut self, path: &str) -> Result<(), Error>;
    /// Removes an empty directory (`NotADirectory` for a file).
    fn rmdir(&mut self, path: &str) -> Result<(), Error>;
    /// Moves `from` to `to` (neither is the root; `to` is not inside `from`). An existing
    /// `to` is replaced if it is a file and `from` is one, or an empty directory and `from`
    /// is one; otherwise `IsADirectory`, `NotADirectory` or `DirectoryNotEmpty`.
    fn rename(&mut self, from: &str, to: &str, now: u64) -> Result<(), Error>;
    fn statfs(&mut self) -> Result<FsInfo, Error>;
    /// Makes every change so far durable (a no-op for RAM).
    fn sync(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// The parent of a mount-relative path and its last component: `/a/b` → (`/a`, `b`),
/// `/a` → (`/`, `a`); `None` for the root.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = path.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    Some((if parent.is_empty() { "/" } else { parent }, name))
}

/// The components of a mount-relative path (none for the root).
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Checks one component a user asked for: non-empty, at most [`MAX_NAME`] bytes, no NUL and
/// no `/`, not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.len() > MAX_NAME {
        return Err(Error::TooLarge);
    }
    if name.is_empty() || name == "." || name == ".." || name.contains(['\0', '/']) {
        return Err(Error::InvalidArgument);
    }
    Ok(())
}

/// A `Stat` for a directory.
pub fn dir_stat(entries: u64, read_only: bool, mtime: u64) -> Stat {
    Stat {
        kind: FileKind::Dir,
        size: entries,
        read_only,
        mtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parents() {
        assert_eq!(split_parent("/"), None);
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(components("/").count(), 0);
        assert_eq!(
            components("/a/b").collect::<alloc::vec::Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn names() {
        assert_eq!(check_name("note.txt"), Ok(()));
        assert_eq!(check_name(""), Err(Error::InvalidArgument));
        assert_eq!(check_name(".."), Err(Error::InvalidArgument));
        assert_eq!(check_name("a\0b"), Err(Error::InvalidArgument));
        assert_eq!(check_name("a/b"), Err(Error::InvalidArgument));
        let long = "x".repeat(MAX_NAME);
        assert_eq!(check_name(&long), Ok(()));
        assert_eq!(check_name(&(long + "x")), Err(Error::TooLarge));
    }
}
