//! ramfs: a file tree in RAM, for the boot archive at `/` and for `/tmp`.
//!
//! Job: hold directories and files in a node arena. File contents are either a `&'static`
//! slice borrowed from the boot archive (no copy: on a microcontroller that is flash, and
//! costs no heap) or bytes owned on the heap (written files).
//!
//! Invariants:
//! - Node 0 is the root directory and is never removed.
//! - Every live node other than the root is listed exactly once in its parent's `children`,
//!   and names are unique within a directory; a removed node's slot is `None` and is reused.
//! - `used` is the sum, over live nodes, of [`NODE_COST`] + name length + the capacity of an
//!   owned file's buffer (what the tree takes from the heap); a change that would take it past
//!   `quota` is refused with `NoSpace` before anything changes (an allocator rounding a
//!   buffer up may overshoot by those few bytes only). A read-only ramfs refuses every change
//!   with `ReadOnly`, so its borrowed files are never copied.
//! - Heap allocation failures are `OutOfMemory`, never a panic (`try_reserve`).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::Error;
use zb_abi::bootfs::BootFs;
use zb_abi::path;
use zb_abi::scheme::{FileKind, FsInfo, Stat};

use crate::fs::{FileSystem, check_name, components, dir_stat, split_parent};

/// What one node costs against the quota besides its name and data (the node itself, its
/// slot in the parent's list): enough that a flood of empty files is bounded too.
pub const NODE_COST: usize = 64;

const ROOT: usize = 0;

/// A file's bytes.
enum Data {
    /// Borrowed from the boot archive.
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Static(b) => b,
            Data::Owned(v) => v,
        }
    }

    /// Heap bytes held (what counts against the quota).
    fn heap(&self) -> usize {
        match self {
            Data::Static(_) => 0,
            Data::Owned(v) => v.capacity(),
        }
    }
}

enum Body {
    Dir(Vec<usize>),
    File(Data),
}

struct Node {
    name: Box<str>,
    parent: usize,
    mtime: u64,
    body: Body,
}

impl Node {
    fn kind(&self) -> FileKind {
        match self.body {
            Body::Dir(_) => FileKind::Dir,
            Body::File(_) => FileKind::File,
        }
    }

    fn cost(&self) -> usize {
        let data = match &self.body {
            Body::File(d) => d.heap(),
            Body::Dir(_) => 0,
        };
        NODE_COST + self.name.len() + data
    }
}

/// An in-memory file system.
pub struct RamFs {
    nodes: Vec<Option<Node>>,
    /// Slots of removed nodes, for reuse.
    free: Vec<usize>,
    read_only: bool,
    quota: usize,
    used: usize,
    /// Bytes of borrowed (boot archive) file data, for `statfs` of a read-only tree.
    static_bytes: u64,
    device: &'static str,
}

impl RamFs {
    /// An empty writable tree that may take up to `quota` bytes of heap.
    pub fn writable(quota: usize) -> RamFs {
        RamFs::empty(false, quota, "-")
    }

    fn empty(read_only: bool, quota: usize, device: &'static str) -> RamFs {
        let root = Node {
            name: Box::from(""),
            parent: ROOT,
            mtime: 0,
            body: Body::Dir(Vec::new()),
        };
        RamFs {
            nodes: alloc::vec![Some(root)],
            free: Vec::new(),
            read_only,
            quota,
            used: 0,
            static_bytes: 0,
            device,
        }
    }

    /// The read-only tree of the boot archive `archive`, plus the (empty) directories
    /// `extra_dirs` (mount points). Directories are implied by the files' paths; file data
    /// stays borrowed. Entries whose path is not a valid file path here (a component too
    /// long, a file where a directory is needed, a duplicate after normalisation) are left
    /// out and counted in the second result. A malformed archive is `Corrupt`.
    pub fn from_boot_archive(
        archive: &'static [u8],
        extra_dirs: &[&str],
    ) -> Result<(RamFs, usize), Error> {
        let mut fs = RamFs::empty(true, usize::MAX, "bootfs");
        let mut skipped = 0;
        if !archive.is_empty() {
            let boot = BootFs::parse(archive)?;
            for entry in boot.iter() {
                if fs.seed_file(entry.path, Data::Static(entry.data)).is_err() {
                    skipped += 1;
                }
            }
        }
        for dir in extra_dirs {
            fs.seed_dirs(dir)?;
        }
        Ok((fs, skipped))
    }

    /// A read-only tree with only the directories `extra_dirs` (no boot archive).
    pub fn bare(extra_dirs: &[&str]) -> RamFs {
        let mut fs = RamFs::empty(true, usize::MAX, "bootfs");
        for dir in extra_dirs {
            // Fails only for a path that is not a directory path, which callers don't pass.
            let _ = fs.seed_dirs(dir);
        }
        fs
    }

    /// Creates every directory of `dir` (like `mkdir -p`), ignoring the quota and the
    /// read-only flag: for building the tree.
    fn seed_dirs(&mut self, dir: &str) -> Result<usize, Error> {
        let mut buf = [0u8; zb_abi::bootfs::MAX_PATH];
        let dir = path::normalize(dir, &mut buf)?;
        let mut at = ROOT;
        for name in components(dir) {
            check_name(name)?;
            at = match self.child(at, name)? {
                Some(id) if self.node(id)?.kind() == FileKind::Dir => id,
                Some(_) => return Err(Error::NotADirectory),
                None => self.insert(at, name, Body::Dir(Vec::new()), 0)?,
            };
        }
        Ok(at)
    }

    /// Adds the file `file` holding `data` (and its directories), ignoring the quota and the
    /// read-only flag: for building the tree. `AlreadyExists` if something is there.
    fn seed_file(&mut self, file: &str, data: Data) -> Result<(), Error> {
        let mut buf = [0u8; zb_abi::bootfs::MAX_PATH];
        let file = path::normalize(file, &mut buf)?;
        let (parent, name) = split_parent(file).ok_or(Error::InvalidArgument)?;
        check_name(name)?;
        let parent = self.seed_dirs(parent)?;
        if self.child(parent, name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        let borrowed = match data {
            Data::Static(bytes) => bytes.len() as u64,
            Data::Owned(_) => 0,
        };
        self.insert(parent, name, Body::File(data), 0)?;
        self.static_bytes += borrowed;
        Ok(())
    }

    /// Adds a file the service itself wrote (`/etc/mtab`) while building the tree: read-only
    /// like the rest of a read-only tree, and not part of the archive's size in `statfs`.
    pub fn seed_owned(&mut self, file: &str, data: Vec<u8>) -> Result<(), Error> {
        self.seed_file(file, Data::Owned(data))
    }

    fn node(&self, id: usize) -> Result<&Node, Error> {
        self.nodes
            .get(id)
            .and_then(Option::as_ref)
            .ok_or(Error::Corrupt)
    }

    fn node_mut(&mut self, id: usize) -> Result<&mut Node, Error> {
        self.nodes
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(Error::Corrupt)
    }

    fn children(&self, dir: usize) -> Result<&[usize], Error> {
        match &self.node(dir)?.body {
            Body::Dir(c) => Ok(c),
            Body::File(_) => Err(Error::NotADirectory),
        }
    }

    fn child(&self, dir: usize, name: &str) -> Result<Option<usize>, Error> {
        for &id in self.children(dir)? {
            if &*self.node(id)?.name == name {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn lookup(&self, path: &str) -> Result<usize, Error> {
        let mut at = ROOT;
        for name in components(path) {
            at = self.child(at, name)?.ok_or(Error::NotFound)?;
        }
        Ok(at)
    }

    /// The directory that holds (or would hold) `path`, and the last name.
    fn lookup_parent<'p>(&self, path: &'p str) -> Result<(usize, &'p str), Error> {
        let (parent, name) = split_parent(path).ok_or(Error::Busy)?;
        let dir = self.lookup(parent)?;
        self.children(dir)?;
        Ok((dir, name))
    }

    fn charge(&mut self, bytes: usize) -> Result<(), Error> {
        let after = self.used.checked_add(bytes).ok_or(Error::NoSpace)?;
        if after > self.quota {
            return Err(Error::NoSpace);
        }
        self.used = after;
        Ok(())
    }

    fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    fn room(&self) -> usize {
        self.quota.saturating_sub(self.used)
    }

    /// Adds a node under `parent` (which the caller checked is a directory without `name`).
    fn insert(
        &mut self,
        parent: usize,
        name: &str,
        body: Body,
        mtime: u64,
    ) -> Result<usize, Error> {
        let mut owned = String::new();
        owned
            .try_reserve_exact(name.len())
            .map_err(|_| Error::OutOfMemory)?;
        owned.push_str(name);
        let node = Node {
            name: owned.into_boxed_str(),
            parent,
            mtime,
            body,
        };
        let cost = node.cost();
        if !self.read_only {
            self.charge(cost)?;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                if self.nodes.try_reserve(1).is_err() {
                    self.release(cost);
                    return Err(Error::OutOfMemory);
                }
                self.nodes.push(None);
                self.nodes.len() - 1
            }
        };
        let linked = match &mut self.node_mut(parent)?.body {
            Body::Dir(children) => children.try_reserve(1).is_ok(),
            Body::File(_) => false,
        };
        if !linked {
            self.free.push(id);
            self.release(cost);
            return Err(Error::OutOfMemory);
        }
        if let Body::Dir(children) = &mut self.node_mut(parent)?.body {
            children.push(id);
        }
        if let Some(slot) = self.nodes.get_mut(id) {
            *slot = Some(node);
        }
        Ok(id)
    }

    /// Unlinks `id` from its parent and frees it (the caller checked it may go).
    fn remove(&mut self, id: usize) -> Result<(), Error> {
        let parent = self.node(id)?.parent;
        if let Body::Dir(children) = &mut self.node_mut(parent)?.body {
            children.retain(|&c| c != id);
        }
        let node = self.nodes.get_mut(id).and_then(Option::take);
        if let Some(node) = node {
            let cost = node.cost();
            self.release(cost);
        }
        // The slot list grows by at most one entry per removal of an allocated slot.
        if self.free.try_reserve(1).is_ok() {
            self.free.push(id);
        }
        Ok(())
    }

    fn file(&self, path: &str) -> Result<usize, Error> {
        let id = self.lookup(path)?;
        match self.node(id)?.body {
            Body::File(_) => Ok(id),
            Body::Dir(_) => Err(Error::IsADirectory),
        }
    }

    fn writable_check(&self) -> Result<(), Error> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Whether `dir` is `ancestor` or lies below it.
    fn is_within(&self, mut dir: usize, ancestor: usize) -> Result<bool, Error> {
        loop {
            if dir == ancestor {
                return Ok(true);
            }
            if dir == ROOT {
                return Ok(false);
            }
            dir = self.node(dir)?.parent;
        }
    }

    /// Makes the file's data owned (copying borrowed bytes) with room for `len` bytes,
    /// charging the quota; returns the buffer.
    fn owned_for(&mut self, id: usize, len: usize) -> Result<&mut Vec<u8>, Error> {
        let (heap_before, current_len) = match &self.node(id)?.body {
            Body::File(d) => (d.heap(), d.bytes().len()),
            Body::Dir(_) => return Err(Error::IsADirectory),
        };
        let want = len.max(current_len);
        if want > heap_before {
            // Amortised growth where the quota allows it, exact growth near the limit.
            let limit = heap_before.saturating_add(self.room());
            if want > limit {
                return Err(Error::NoSpace);
            }
            let target = want.max(heap_before.saturating_mul(2)).min(limit);
            let node = self.node_mut(id)?;
            let Body::File(data) = &mut node.body else {
                return Err(Error::IsADirectory);
            };
            if let Data::Static(bytes) = data {
                let mut v = Vec::new();
                v.try_reserve_exact(target)
                    .map_err(|_| Error::OutOfMemory)?;
                v.extend_from_slice(bytes);
                *data = Data::Owned(v);
            } else if let Data::Owned(v) = data {
                v.try_reserve_exact(target - v.len())
                    .map_err(|_| Error::OutOfMemory)?;
            }
            let heap_after = data.heap();
            self.used = self
                .used
                .saturating_add(heap_after.saturating_sub(heap_before));
        } else if let Body::File(data @ Data::Static(_)) = &mut self.node_mut(id)?.body {
            // Only an empty borrowed file has no heap and needs none.
            *data = Data::Owned(Vec::new());
        }
        match &mut self.node_mut(id)?.body {
            Body::File(Data::Owned(v)) => Ok(v),
            _ => Err(Error::Corrupt),
        }
    }
}

impl FileSystem for RamFs {
    fn type_name(&self) -> &'static str {
        "ramfs"
    }

    fn device(&self) -> &'static str {
        self.device
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn stat(&mut self, path: &str) -> Result<Stat, Error> {
        let node = self.node(self.lookup(path)?)?;
        Ok(match &node.body {
            Body::Dir(children) => dir_stat(children.len() as u64, self.read_only, node.mtime),
            Body::File(data) => Stat {
                kind: FileKind::File,
                size: data.bytes().len() as u64,
                read_only: self.read_only,
                mtime: node.mtime,
            },
        })
    }

    fn create(&mut self, path: &str, now: u64) -> Result<(), Error> {
        let (dir, name) = self.lookup_parent(path)?;
        if self.child(dir, name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        self.writable_check()?;
        self.insert(dir, name, Body::File(Data::Owned(Vec::new())), now)?;
        Ok(())
    }

    fn truncate(&mut self, path: &str, now: u64) -> Result<(), Error> {
        let id = self.file(path)?;
        self.writable_check()?;
        let node = self.node_mut(id)?;
        let freed = match &mut node.body {
            Body::File(data) => {
                let heap = data.heap();
                *data = Data::Owned(Vec::new());
                heap
            }
            Body::Dir(_) => return Err(Error::IsADirectory),
        };
        node.mtime = now;
        self.release(freed);
        Ok(())
    }

    fn read(&mut self, path: &str, pos: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let id = self.file(path)?;
        let Body::File(data) = &self.node(id)?.body else {
            return Err(Error::IsADirectory);
        };
        let bytes = data.bytes();
        let Ok(start) = usize::try_from(pos) else {
            return Ok(0);
        };
        let Some(rest) = bytes.get(start..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn write(&mut self, path: &str, pos: u64, data: &[u8], now: u64) -> Result<usize, Error> {
        let id = self.file(path)?;
        self.writable_check()?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = pos.checked_add(data.len() as u64).ok_or(Error::TooLarge)?;
        // Past the address space is past any quota.
        let end = usize::try_from(end).map_err(|_| Error::NoSpace)?;
        let start = end - data.len();
        let buf = self.owned_for(id, end)?;
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[start..end].copy_from_slice(data);
        self.node_mut(id)?.mtime = now;
        Ok(data.len())
    }

    fn read_dir(
        &mut self,
        path: &str,
        skip: u64,
        visit: &mut dyn FnMut(FileKind, &str) -> bool,
    ) -> Result<(), Error> {
        let dir = self.lookup(path)?;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        for &id in self.children(dir)?.iter().skip(skip) {
            let node = self.node(id)?;
            if !visit(node.kind(), &node.name) {
                break;
            }
        }
        Ok(())
    }

    fn mkdir(&mut self, path: &str, now: u64) -> Result<(), Error> {
        let (dir, name) = self.lookup_parent(path).map_err(|e| match e {
            // `mkdir /` names the root, which exists.
            Error::Busy => Error::AlreadyExists,
            e => e,
        })?;
        if self.child(dir, name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        self.writable_check()?;
        self.insert(dir, name, Body::Dir(Vec::new()), now)?;
        Ok(())
    }

    fn unlink(&mut self, path: &str) -> Result<(), Error> {
        let id = self.file(path)?;
        self.writable_check()?;
        self.remove(id)
    }

    fn rmdir(&mut self, path: &str) -> Result<(), Error> {
        let id = self.lookup(path)?;
        if id == ROOT {
            return Err(Error::Busy);
        }
        if !self.children(id)?.is_empty() {
            return Err(Error::DirectoryNotEmpty);
        }
        self.writable_check()?;
        self.remove(id)
    }

    fn rename(&mut self, from: &str, to: &str, now: u64) -> Result<(), Error> {
        let src = self.lookup(from)?;
        let (dir, name) = self.lookup_parent(to)?;
        if src == ROOT {
            return Err(Error::Busy);
        }
        let src_kind = self.node(src)?.kind();
        let existing = self.child(dir, name)?;
        if existing == Some(src) {
            return Ok(());
        }
        if src_kind == FileKind::Dir && self.is_within(dir, src)? {
            return Err(Error::InvalidArgument);
        }
        if let Some(old) = existing {
            match (src_kind, self.node(old)?.kind()) {
                (FileKind::Dir, FileKind::Dir) => {
                    if !self.children(old)?.is_empty() {
                        return Err(Error::DirectoryNotEmpty);
                    }
                }
                (FileKind::Dir, _) => return Err(Error::NotADirectory),
                (_, FileKind::Dir) => return Err(Error::IsADirectory),
                _ => {}
            }
        }
        self.writable_check()?;
        // Everything that can fail is checked or reserved before the tree changes.
        let old_len = self.node(src)?.name.len();
        if name.len() > old_len {
            self.charge(name.len() - old_len)?;
        } else {
            self.release(old_len - name.len());
        }
        let mut new_name = String::new();
        let reserved = new_name.try_reserve_exact(name.len()).is_ok()
            && match &mut self.node_mut(dir)?.body {
                Body::Dir(children) => children.try_reserve(1).is_ok(),
                Body::File(_) => false,
            };
        if !reserved {
            if name.len() > old_len {
                self.release(name.len() - old_len);
            } else {
                self.used += old_len - name.len();
            }
            return Err(Error::OutOfMemory);
        }
        new_name.push_str(name);
        if let Some(old) = existing {
            self.remove(old)?;
        }
        let old_parent = self.node(src)?.parent;
        if let Body::Dir(children) = &mut self.node_mut(old_parent)?.body {
            children.retain(|&c| c != src);
        }
        if let Body::Dir(children) = &mut self.node_mut(dir)?.body {
            children.push(src);
        }
        let node = self.node_mut(src)?;
        node.name = new_name.into_boxed_str();
        node.parent = dir;
        node.mtime = now;
        Ok(())
    }

    fn statfs(&mut self) -> Result<FsInfo, Error> {
        Ok(if self.read_only {
            FsInfo {
                total: self.static_bytes,
                free: 0,
                read_only: true,
            }
        } else {
            FsInfo {
                total: self.quota as u64,
                free: self.room() as u64,
                read_only: false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;

    fn names(fs: &mut RamFs, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        fs.read_dir(path, 0, &mut |_, n| {
            out.push(String::from(n));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn quota_counts_nodes_names_and_data() {
        let mut fs = RamFs::writable(1000);
        fs.create("/a", 1).unwrap();
        assert_eq!(fs.used, NODE_COST + 1);
        assert_eq!(fs.write("/a", 0, &[7; 100], 2), Ok(100));
        assert!(fs.used >= NODE_COST + 1 + 100);
        // Far past the quota: refused, nothing changed.
        assert_eq!(fs.write("/a", 5000, b"x", 3), Err(Error::NoSpace));
        assert_eq!(fs.stat("/a").unwrap().size, 100);
        // Fill exactly to the limit.
        let room = fs.room();
        let len = fs.stat("/a").unwrap().size as usize;
        let heap = match &fs.node(fs.lookup("/a").unwrap()).unwrap().body {
            Body::File(d) => d.heap(),
            _ => unreachable!(),
        };
        let fits = heap + room - len;
        assert_eq!(fs.write("/a", len as u64, &vec![1; fits], 4), Ok(fits));
        assert_eq!(fs.room(), 0);
        assert_eq!(
            fs.write("/a", (len + fits) as u64, b"z", 5),
            Err(Error::NoSpace)
        );
        assert_eq!(fs.create("/b", 6), Err(Error::NoSpace));
        fs.unlink("/a").unwrap();
        assert_eq!(fs.used, 0);
        assert_eq!(fs.free, [1]);
        fs.create("/b", 7).unwrap();
        assert_eq!(fs.nodes.len(), 2, "the slot is reused");
    }

    #[test]
    fn seeds_from_paths_and_skips_bad_entries() {
        fn archive(files: &[(&str, &[u8])]) -> &'static [u8] {
            let mut out = Vec::from(zb_abi::bootfs::MAGIC);
            out.extend_from_slice(&(files.len() as u32).to_le_bytes());
            for (p, d) in files {
                out.extend_from_slice(&(p.len() as u16).to_le_bytes());
                out.extend_from_slice(&(d.len() as u32).to_le_bytes());
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(d);
            }
            out.leak()
        }
        let bytes = archive(&[
            ("/bin/hello", b"\0asm"),
            ("/etc/motd", b"hi\n"),
            ("//etc/./x/../issue", b"i"),
            ("/bin/hello/oops", b"under a file"),
            ("/etc/issue/", b"dup"),
        ]);
        let (mut fs, skipped) = RamFs::from_boot_archive(bytes, &["/tmp", "/data"]).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(names(&mut fs, "/"), ["bin", "etc", "tmp", "data"]);
        assert_eq!(names(&mut fs, "/etc"), ["motd", "issue"]);
        let mut buf = [0u8; 8];
        assert_eq!(fs.read("/etc/motd", 0, &mut buf), Ok(3));
        assert_eq!(
            fs.used, 0,
            "borrowed data and read-only nodes cost no quota"
        );
        assert_eq!(fs.statfs().unwrap().total, 4 + 3 + 1);
        assert_eq!(
            RamFs::from_boot_archive(b"garbage", &[]).err(),
            Some(Error::Corrupt)
        );
    }

    #[test]
    fn rename_rules() {
        let mut fs = RamFs::writable(1 << 20);
        fs.mkdir("/d", 0).unwrap();
        fs.mkdir("/d/e", 0).unwrap();
        fs.mkdir("/empty", 0).unwrap();
        fs.create("/f", 0).unwrap();
        fs.create("/g", 0).unwrap();
        assert_eq!(fs.rename("/d", "/d/e/x", 0), Err(Error::InvalidArgument));
        assert_eq!(fs.rename("/f", "/d", 0), Err(Error::IsADirectory));
        assert_eq!(fs.rename("/d", "/f", 0), Err(Error::NotADirectory));
        assert_eq!(fs.rename("/empty", "/d", 0), Err(Error::DirectoryNotEmpty));
        assert_eq!(fs.rename("/d", "/empty", 0), Ok(()));
        assert_eq!(fs.rename("/f", "/g", 0), Ok(()));
        assert_eq!(fs.rename("/g", "/g", 0), Ok(()));
        assert_eq!(names(&mut fs, "/"), ["empty", "g"]);
        assert_eq!(names(&mut fs, "/empty"), ["e"]);
        let used = fs.used;
        fs.rename("/g", "/a-much-longer-name", 0).unwrap();
        assert_eq!(fs.used, used + "a-much-longer-name".len() - 1);
    }
}
