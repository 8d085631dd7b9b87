//! The service as a client sees it: a mock host, in-memory block devices (with a "durable"
//! copy that only `flush` updates, so a simulated power cut keeps exactly what was flushed),
//! and the user's file sessions, hostile inputs and persistence.

extern crate std;

use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use zb_abi::kind::{KindId, kinds};
use zb_abi::scheme::{
    Answer, FileKind, FsInfo, MTAB, Op, OpenFlags as F, Reply, Request, Stat, Whence,
};
use zb_abi::{
    Admin, BlockDev, BlockDeviceInfo, Bus, Console, Error, Files, MemInfo, NativeService, Pid,
    RunInfo, RunKind, Runs, Schemes, StateName, SysInfo, System,
};

use crate::{
    MAX_HANDLES, MAX_HANDLES_PER_RUN, MAX_HANDLES_PER_SERVICE, SYSTEM_HANDLES, VfsConfig,
    VfsService,
};

// ---------------------------------------------------------------------------------------
// Test doubles.

/// A RAM disk. `data` is what reads see; `durable` is what survives a power cut (updated by
/// `flush` only).
struct MemDisk {
    data: RefCell<Vec<u8>>,
    durable: RefCell<Vec<u8>>,
    block_size: u32,
    writable: bool,
    driver: &'static str,
    /// Writes fail with this error from now on.
    fail_writes: Cell<Option<Error>>,
    flushes: Cell<u32>,
}

impl MemDisk {
    fn new(bytes: usize, block_size: u32, driver: &'static str) -> &'static MemDisk {
        MemDisk::from_image(vec![0; bytes], block_size, driver, true)
    }

    fn from_image(
        image: Vec<u8>,
        block_size: u32,
        driver: &'static str,
        writable: bool,
    ) -> &'static MemDisk {
        Box::leak(Box::new(MemDisk {
            durable: RefCell::new(image.clone()),
            data: RefCell::new(image),
            block_size,
            writable,
            driver,
            fail_writes: Cell::new(None),
            flushes: Cell::new(0),
        }))
    }

    /// The device after a power cut: only what was flushed.
    fn after_power_cut(&self) -> &'static MemDisk {
        MemDisk::from_image(
            self.durable.borrow().clone(),
            self.block_size,
            self.driver,
            self.writable,
        )
    }

    fn range(&self, lba: u64, len: usize) -> Result<core::ops::Range<usize>, Error> {
        let bs = self.block_size as usize;
        let start = usize::try_from(lba).map_err(|_| Error::InvalidArgument)? * bs;
        if !len.is_multiple_of(bs) || start + len > self.data.borrow().len() {
            return Err(Error::InvalidArgument);
        }
        Ok(start..start + len)
    }
}

impl BlockDev for MemDisk {
    fn info(&self) -> BlockDeviceInfo {
        BlockDeviceInfo {
            block_size: self.block_size,
            blocks: (self.data.borrow().len() / self.block_size as usize) as u64,
            driver: self.driver,
            writable: self.writable,
        }
    }

    fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        let r = self.range(lba, buf.len())?;
        buf.copy_from_slice(&self.data.borrow()[r]);
        Ok(())
    }

    fn write(&self, lba: u64, data: &[u8]) -> Result<(), Error> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        if let Some(e) = self.fail_writes.get() {
            return Err(e);
        }
        let r = self.range(lba, data.len())?;
        self.data.borrow_mut()[r].copy_from_slice(data);
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        if let Some(e) = self.fail_writes.get() {
            return Err(e);
        }
        self.durable.borrow_mut().clone_from(&self.data.borrow());
        self.flushes.set(self.flushes.get() + 1);
        Ok(())
    }
}

/// The host as the vfs uses it: the log (on the "console"), the clock, the heap size, the boot
/// archive and the scheme registry.
struct MockHost {
    log: String,
    clock_us: u64,
    heap: usize,
    archive: &'static [u8],
    schemes: Vec<(&'static str, KindId)>,
    kinds: Vec<(KindId, &'static str)>,
}

impl Console for MockHost {
    fn console_write(&mut self, bytes: &[u8]) {
        self.log.push_str(&String::from_utf8_lossy(bytes));
    }
}

impl System for MockHost {
    fn clock_us(&self) -> u64 {
        self.clock_us
    }
    fn cycles(&self) -> u64 {
        0
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo {
            version: "test",
            platform: "test",
            machine: "test",
            profile: "debug",
            boot_us: 0,
        }
    }
    fn meminfo(&self) -> MemInfo {
        let mut m = MemInfo::default();
        m.heap.total = self.heap;
        m
    }
    fn boot_archive(&self) -> &'static [u8] {
        self.archive
    }
}

impl Schemes for MockHost {
    fn register_scheme(&mut self, scheme: &'static str, kind: KindId) -> Result<(), Error> {
        self.schemes.push((scheme, kind));
        Ok(())
    }
    fn register_kind(&mut self, kind: KindId, name: &'static str) {
        self.kinds.push((kind, name));
    }
}

/// The services, as the kernel lists them: pids 1 to 3 (runs come after).
const SERVICES: [Pid; 3] = [1, 2, 3];

impl Runs for MockHost {
    fn runs(&self, visit: &mut dyn FnMut(&RunInfo<'_>)) {
        for pid in SERVICES {
            visit(&RunInfo {
                pid,
                parent: 0,
                kind: RunKind::Service,
                name: "service",
                state: StateName::Wait,
                wait: None,
                memory: 0,
                fuel: 0,
                exit: None,
            });
        }
    }
}

// The vfs is a server: it opens no URLs, uses no bus or machine control.
impl Files for MockHost {}
impl Bus for MockHost {}
impl Admin for MockHost {}

fn boot_archive() -> &'static [u8] {
    let files: [(&str, &[u8]); 4] = [
        ("/bin/hello", b"\0asm\x01\0\0\0"),
        ("/bin/echo", b"\0asm\x01\0\0\0echo"),
        ("/etc/motd", b"Welcome to ZeroBus OS\n"),
        ("/etc/init/manifest", b"run shell\n"),
    ];
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

/// A started service with its host, and the calls a client makes.
struct Sys {
    vfs: VfsService,
    host: MockHost,
    pid: Pid,
}

const RW: F = F::READ.union(F::WRITE);
const NEW: F = F::READ.union(F::WRITE).union(F::CREATE).union(F::TRUNCATE);

impl Sys {
    fn boot(device: Option<&'static dyn BlockDev>, heap: usize) -> Sys {
        Sys::boot_with(device, heap, VfsConfig::default())
    }

    fn boot_with(device: Option<&'static dyn BlockDev>, heap: usize, config: VfsConfig) -> Sys {
        let mut host = MockHost {
            log: String::new(),
            clock_us: 5_000_000,
            heap,
            archive: boot_archive(),
            schemes: Vec::new(),
            kinds: Vec::new(),
        };
        let device = device.map(|d| Box::new(d) as Box<dyn BlockDev>);
        let mut vfs = VfsService::with_config(config, device);
        vfs.start(&mut host);
        Sys { vfs, host, pid: 7 }
    }

    /// The x86_64 setup: a 16 MiB virtio disk and a big heap.
    fn pc(disk: &'static MemDisk) -> Sys {
        Sys::boot(Some(disk), 64 << 20)
    }

    fn call(&mut self, op: Op<'_>) -> Result<Vec<u8>, Error> {
        self.host.clock_us += 1_000_000;
        let req = Request {
            id: 1,
            from: self.pid,
            op,
        };
        match self.vfs.request(req, &mut self.host) {
            Answer::Now(Reply::Done(v)) => Ok(v.to_le_bytes().to_vec()),
            Answer::Now(Reply::Data(d)) => Ok(d.to_vec()),
            Answer::Now(Reply::Stat(s)) => Ok(s.to_bytes().to_vec()),
            Answer::Now(Reply::Info(i)) => Ok(i.to_bytes().to_vec()),
            Answer::Now(Reply::Err(e)) => Err(e),
            Answer::Later => panic!("the vfs never defers"),
        }
    }

    fn done(&mut self, op: Op<'_>) -> Result<u64, Error> {
        self.call(op)
            .map(|b| u64::from_le_bytes(b.try_into().expect("a Done reply")))
    }

    fn open(&mut self, path: &str, flags: F) -> Result<u32, Error> {
        self.done(Op::Open {
            scheme: "file",
            path,
            flags,
        })
        .map(|h| h as u32)
    }

    fn read(&mut self, handle: u32, len: u32) -> Result<Vec<u8>, Error> {
        self.call(Op::Read { handle, len })
    }

    fn write(&mut self, handle: u32, data: &[u8]) -> Result<u64, Error> {
        self.done(Op::Write { handle, data })
    }

    fn seek(&mut self, handle: u32, offset: i64, whence: Whence) -> Result<u64, Error> {
        self.done(Op::Seek {
            handle,
            offset,
            whence,
        })
    }

    fn close(&mut self, handle: u32) -> Result<u64, Error> {
        self.done(Op::Close { handle })
    }

    fn stat(&mut self, path: &str) -> Result<Stat, Error> {
        let b = self.call(Op::Stat { path })?;
        Ok(Stat::from_bytes(&b.try_into().unwrap()).unwrap())
    }

    fn statfs(&mut self, path: &str) -> Result<FsInfo, Error> {
        let b = self.call(Op::StatFs { path })?;
        Ok(FsInfo::from_bytes(&b.try_into().unwrap()))
    }

    fn mkdir(&mut self, path: &str) -> Result<u64, Error> {
        self.done(Op::Mkdir { path })
    }

    fn unlink(&mut self, path: &str) -> Result<u64, Error> {
        self.done(Op::Unlink { path })
    }

    fn rmdir(&mut self, path: &str) -> Result<u64, Error> {
        self.done(Op::Rmdir { path })
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<u64, Error> {
        self.done(Op::Rename { from, to })
    }

    /// `ls`: every entry, read with a small budget to exercise resumption.
    fn ls_with(&mut self, path: &str, budget: u32) -> Result<Vec<(FileKind, String)>, Error> {
        let h = self.open(path, F::DIRECTORY)?;
        let mut out = Vec::new();
        loop {
            let chunk = self.read(h, budget)?;
            if chunk.is_empty() {
                break;
            }
            out.extend(zb_abi::scheme::dirents(&chunk).map(|(k, n)| (k, n.to_string())));
        }
        self.close(h).unwrap();
        Ok(out)
    }

    fn ls(&mut self, path: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .ls_with(path, 300)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        names.sort();
        names
    }

    fn cat(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let h = self.open(path, F::READ)?;
        let mut out = Vec::new();
        loop {
            let chunk = self.read(h, 1000)?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        self.close(h).unwrap();
        Ok(out)
    }

    /// `write <path> <text>`: create or truncate, write, close.
    fn put(&mut self, path: &str, data: &[u8]) -> Result<(), Error> {
        let h = self.open(path, NEW)?;
        let r = self.write(h, data);
        self.close(h).unwrap();
        assert_eq!(r?, data.len() as u64);
        Ok(())
    }

    /// `/etc/mtab`.
    fn mounts(&mut self) -> String {
        String::from_utf8(self.cat(MTAB).unwrap()).unwrap()
    }
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn registers_and_mounts() {
    let disk = MemDisk::new(16 << 20, 512, "virtio-blk");
    let mut sys = Sys::pc(disk);
    assert_eq!(sys.host.schemes, [("file", kinds::SCHEME_FILE)]);
    assert_eq!(sys.host.kinds, [(kinds::VFS, "vfs")]);
    assert_eq!(sys.vfs.name(), "vfs");
    assert_eq!(
        sys.mounts(),
        "bootfs / ramfs ro 0 0\n- /tmp ramfs rw 0 0\nvirtio-blk /data fat16 rw 0 0\n"
    );
    // The table is a read-only file of the root tree, listed with the archive's files, and
    // not counted in the size of the archive.
    assert_eq!(sys.ls("/etc"), sorted(&["init", "motd", "mtab"]));
    let st = sys.stat(MTAB).unwrap();
    let size = sys.mounts().len() as u64;
    assert_eq!(
        (st.kind, st.size, st.read_only),
        (FileKind::File, size, true)
    );
    assert_eq!(sys.open(MTAB, RW), Err(Error::ReadOnly));
    assert_eq!(sys.unlink(MTAB), Err(Error::ReadOnly));
    let archive_bytes = (8 + 12 + 22 + 10) as u64;
    assert_eq!(sys.statfs("/").unwrap().total, archive_bytes);
    assert!(
        sys.host
            .log
            .contains("vfs: formatted /data (fat16, 16.0 MiB on virtio-blk)")
    );
    assert!(
        sys.host
            .log
            .contains("vfs: mounted /data (fat16 rw, 16.0 MiB on virtio-blk)")
    );
}

#[test]
fn user_session() {
    let disk = MemDisk::new(16 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    assert_eq!(s.ls("/"), sorted(&["bin", "etc", "tmp", "data"]));
    assert_eq!(s.ls("/bin"), sorted(&["hello", "echo"]));
    assert_eq!(s.cat("/etc/motd").unwrap(), b"Welcome to ZeroBus OS\n");
    assert_eq!(s.ls("/data"), Vec::<String>::new());

    // write, append, read back.
    s.put("/data/note.txt", b"first line\n").unwrap();
    let h = s.open("/data/note.txt", F::WRITE | F::APPEND).unwrap();
    assert_eq!(s.write(h, b"second line\n"), Ok(12));
    s.close(h).unwrap();
    assert_eq!(
        s.cat("/data/note.txt").unwrap(),
        b"first line\nsecond line\n"
    );
    let st = s.stat("/data/note.txt").unwrap();
    assert_eq!(
        (st.kind, st.size, st.read_only),
        (FileKind::File, 23, false)
    );
    assert!(st.mtime > 0, "stamped with the uptime");
    assert_eq!(
        s.ls_with("/data", 64).unwrap(),
        [(FileKind::File, "note.txt".to_string())]
    );

    // mkdir, rm, rmdir.
    assert_eq!(s.mkdir("/data/logs"), Ok(0));
    assert_eq!(s.mkdir("/data/logs"), Err(Error::AlreadyExists));
    s.put("/data/logs/boot.log", b"ok").unwrap();
    assert_eq!(s.rmdir("/data/logs"), Err(Error::DirectoryNotEmpty));
    assert_eq!(s.unlink("/data/logs"), Err(Error::IsADirectory));
    assert_eq!(s.rmdir("/data/note.txt"), Err(Error::NotADirectory));
    assert_eq!(s.unlink("/data/logs/boot.log"), Ok(0));
    assert_eq!(s.unlink("/data/logs/boot.log"), Err(Error::NotFound));
    assert_eq!(s.rmdir("/data/logs"), Ok(0));
    assert_eq!(s.stat("/data/logs"), Err(Error::NotFound));

    // rename, within a directory and across directories.
    assert_eq!(s.rename("/data/note.txt", "/data/notes.txt"), Ok(0));
    assert_eq!(s.cat("/data/note.txt"), Err(Error::NotFound));
    s.mkdir("/data/archive").unwrap();
    assert_eq!(s.rename("/data/notes.txt", "/data/archive/2024.txt"), Ok(0));
    assert_eq!(s.cat("/data/archive/2024.txt").unwrap().len(), 23);
    assert_eq!(
        s.rename("/data/archive/2024.txt", "/tmp/x"),
        Err(Error::Unsupported)
    );
    assert_eq!(s.rename("/data/nothing", "/tmp/x"), Err(Error::NotFound));
    // Replacing a file.
    s.put("/data/a", b"A").unwrap();
    s.put("/data/b", b"B").unwrap();
    assert_eq!(s.rename("/data/a", "/data/b"), Ok(0));
    assert_eq!(s.cat("/data/b").unwrap(), b"A");
    assert_eq!(
        s.rename("/data/b", "/data/archive"),
        Err(Error::IsADirectory)
    );
    assert_eq!(
        s.rename("/data/archive", "/data/b"),
        Err(Error::NotADirectory)
    );
    assert_eq!(
        s.rename("/data/archive", "/data/archive/inner"),
        Err(Error::InvalidArgument)
    );

    // stat of directories and mount points.
    assert_eq!(s.stat("/").unwrap().kind, FileKind::Dir);
    assert!(s.stat("/").unwrap().read_only);
    assert_eq!(s.stat("/data").unwrap().kind, FileKind::Dir);
    assert!(!s.stat("/data").unwrap().read_only);
    assert_eq!(s.stat("/etc/motd").unwrap().size, 22);

    // statfs: each mount answers for itself.
    let root = s.statfs("/etc").unwrap();
    assert!(root.read_only && root.free == 0 && root.total > 0);
    let data = s.statfs("/data/archive").unwrap();
    assert!(!data.read_only && data.total > 15 << 20 && data.free < data.total);
    let tmp = s.statfs("/tmp").unwrap();
    assert_eq!((tmp.total, tmp.free), (8 << 20, 8 << 20));

    // /tmp works the same way.
    s.put("/tmp/scratch", b"xyz").unwrap();
    assert_eq!(s.cat("/tmp/scratch").unwrap(), b"xyz");
    assert!(s.statfs("/tmp").unwrap().free < 8 << 20);
    assert_eq!(s.vfs.open_handles(), 0);
}

#[test]
fn read_only_root() {
    let mut s = Sys::boot(None, 1 << 20);
    assert_eq!(s.open("/etc/motd", RW), Err(Error::ReadOnly));
    assert_eq!(
        s.open("/etc/motd", F::WRITE | F::APPEND),
        Err(Error::ReadOnly)
    );
    assert_eq!(s.open("/bin/new", NEW), Err(Error::ReadOnly));
    assert_eq!(s.open("/new", NEW), Err(Error::ReadOnly));
    assert_eq!(
        s.open("/bin/hello", NEW | F::EXCLUSIVE),
        Err(Error::AlreadyExists)
    );
    assert_eq!(s.mkdir("/bin/x"), Err(Error::ReadOnly));
    assert_eq!(s.mkdir("/etc"), Err(Error::AlreadyExists));
    assert_eq!(s.mkdir("/"), Err(Error::AlreadyExists));
    assert_eq!(s.unlink("/bin/hello"), Err(Error::ReadOnly));
    assert_eq!(s.unlink("/bin/nothing"), Err(Error::NotFound));
    assert_eq!(s.rmdir("/bin"), Err(Error::DirectoryNotEmpty));
    assert_eq!(s.rename("/etc/motd", "/etc/motd2"), Err(Error::ReadOnly));
    assert_eq!(s.rename("/etc/motd", "/tmp/motd"), Err(Error::Unsupported));
    // The files are still there and unchanged.
    assert_eq!(s.cat("/etc/motd").unwrap(), b"Welcome to ZeroBus OS\n");
    assert!(s.stat("/bin/hello").unwrap().read_only);

    // Mount points.
    assert_eq!(s.rmdir("/"), Err(Error::Busy));
    assert_eq!(s.rmdir("/tmp"), Err(Error::Busy));
    assert_eq!(s.rmdir("/data/"), Err(Error::Busy));
    assert_eq!(s.unlink("/tmp"), Err(Error::IsADirectory));
    assert_eq!(s.mkdir("/tmp"), Err(Error::AlreadyExists));
    assert_eq!(s.rename("/tmp", "/tmp2"), Err(Error::Busy));
    assert_eq!(s.rename("/etc", "/data"), Err(Error::Busy));
    s.put("/tmp/f", b"1").unwrap();
    assert_eq!(s.rename("/tmp/f", "/tmp"), Err(Error::Busy));
}

#[test]
fn dot_dot_never_leaves_a_mount() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    assert_eq!(
        s.cat("/data/../etc/motd").unwrap(),
        b"Welcome to ZeroBus OS\n"
    );
    assert_eq!(s.cat("/tmp/../../../../etc/./motd").unwrap().len(), 22);
    // `/data/x/../../..` is `/`: the root listing, read-only.
    let h = s.open("/data/x/../../..", F::DIRECTORY).unwrap();
    let names: Vec<String> = zb_abi::scheme::dirents(&s.read(h, 512).unwrap())
        .map(|(_, n)| n.to_string())
        .collect();
    assert_eq!(names, ["bin", "etc", "tmp", "data"]);
    assert!(s.stat("/data/x/../../..").unwrap().read_only);
    // A file created through `..` lands where the normalised path says.
    s.put("/tmp/../data/top.txt", b"t").unwrap();
    assert_eq!(s.ls("/data"), ["top.txt"]);
    assert_eq!(s.ls("/tmp"), Vec::<String>::new());
    // `/database` is not under `/data`, and `/datax/..` is `/`.
    assert_eq!(s.stat("/database"), Err(Error::NotFound));
    assert_eq!(s.mkdir("/database"), Err(Error::ReadOnly));
    assert_eq!(s.open("/database", NEW), Err(Error::ReadOnly));
    assert_eq!(s.stat("/datax/..").unwrap().kind, FileKind::Dir);
    assert_eq!(s.rmdir("/data/../tmp/.."), Err(Error::Busy));
}

#[test]
fn open_flag_semantics() {
    let mut s = Sys::boot(None, 1 << 20);
    assert_eq!(s.open("/tmp", F::READ), Err(Error::IsADirectory));
    assert_eq!(s.open("/tmp", RW), Err(Error::IsADirectory));
    assert_eq!(s.open("/etc/motd", F::DIRECTORY), Err(Error::NotADirectory));
    assert_eq!(s.open("/tmp/no/such", NEW), Err(Error::NotFound));
    assert_eq!(s.open("/etc/motd/x", F::READ), Err(Error::NotADirectory));
    assert_eq!(s.open("/etc/motd/x", NEW), Err(Error::NotADirectory));
    assert_eq!(s.open("/tmp/missing", F::READ), Err(Error::NotFound));
    for bad in [
        F::empty(),
        F::READ | F::CREATE,
        F::WRITE | F::EXCLUSIVE,
        F::DIRECTORY | F::WRITE,
        F::from_bits_retain(1 << 20),
    ] {
        assert_eq!(
            s.open("/tmp/f", bad),
            Err(Error::InvalidArgument),
            "{bad:?}"
        );
    }
    // CREATE without TRUNCATE keeps the contents; TRUNCATE cuts them.
    s.put("/tmp/f", b"hello").unwrap();
    let h = s.open("/tmp/f", F::WRITE | F::CREATE).unwrap();
    s.close(h).unwrap();
    assert_eq!(s.cat("/tmp/f").unwrap(), b"hello");
    let h = s.open("/tmp/f", F::WRITE | F::TRUNCATE).unwrap();
    s.close(h).unwrap();
    assert_eq!(s.cat("/tmp/f").unwrap(), b"");
    assert_eq!(
        s.open("/tmp/f", F::WRITE | F::CREATE | F::EXCLUSIVE),
        Err(Error::AlreadyExists)
    );
    let h = s
        .open("/tmp/g", F::WRITE | F::CREATE | F::EXCLUSIVE)
        .unwrap();
    s.close(h).unwrap();
    // Write-only handles cannot read, read-only ones cannot write.
    let h = s.open("/tmp/f", F::WRITE).unwrap();
    assert_eq!(s.read(h, 10), Err(Error::PermissionDenied));
    s.close(h).unwrap();
    let h = s.open("/tmp/f", F::READ).unwrap();
    assert_eq!(s.write(h, b"x"), Err(Error::PermissionDenied));
    s.close(h).unwrap();
    let h = s.open("/tmp", F::DIRECTORY).unwrap();
    assert_eq!(s.write(h, b"x"), Err(Error::IsADirectory));
    s.close(h).unwrap();
}

#[test]
fn hostile_inputs() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    for dir in ["/tmp", "/data"] {
        // Names: 255 bytes is the limit; longer is too large; NUL is invalid.
        let name255 = "n".repeat(255);
        let ok = format!("{dir}/{name255}");
        s.put(&ok, b"long").unwrap();
        assert_eq!(s.cat(&ok).unwrap(), b"long");
        assert!(s.ls(dir).contains(&name255));
        let too_long = format!("{dir}/{name255}x");
        assert_eq!(s.open(&too_long, NEW), Err(Error::TooLarge));
        assert_eq!(s.mkdir(&too_long), Err(Error::TooLarge));
        assert_eq!(s.stat(&too_long), Err(Error::TooLarge));
        assert_eq!(
            s.open(&format!("{dir}/a\0b"), NEW),
            Err(Error::InvalidArgument)
        );
        assert_eq!(s.mkdir(&format!("{dir}/\0")), Err(Error::InvalidArgument));
        // Empty components vanish: `dir//` is `dir` itself.
        assert_eq!(s.mkdir(&format!("{dir}//")), Err(Error::AlreadyExists));
        assert_eq!(s.open(&format!("{dir}//"), NEW), Err(Error::IsADirectory));
        // Huge and negative seeks.
        let h = s.open(&format!("{dir}/seek"), NEW).unwrap();
        assert_eq!(s.seek(h, -1, Whence::Start), Err(Error::InvalidArgument));
        assert_eq!(s.seek(h, -1, Whence::End), Err(Error::InvalidArgument));
        assert_eq!(s.seek(h, i64::MAX, Whence::Start), Ok(i64::MAX as u64));
        assert_eq!(s.seek(h, 1, Whence::Current), Err(Error::InvalidArgument));
        assert_eq!(s.read(h, 10), Ok(vec![]));
        let err = s.write(h, b"x").unwrap_err();
        assert!(matches!(err, Error::TooLarge | Error::NoSpace), "{err:?}");
        assert_eq!(s.seek(h, 1 << 40, Whence::Start), Ok(1 << 40));
        let err = s.write(h, b"x").unwrap_err();
        assert!(matches!(err, Error::TooLarge | Error::NoSpace), "{err:?}");
        assert_eq!(s.stat(&format!("{dir}/seek")).unwrap().size, 0);
        s.close(h).unwrap();
        // Closed and forged handles.
        assert_eq!(s.read(h, 10), Err(Error::BadHandle));
        assert_eq!(s.write(h, b"x"), Err(Error::BadHandle));
        assert_eq!(s.seek(h, 0, Whence::Start), Err(Error::BadHandle));
        assert_eq!(s.call(Op::StatHandle { handle: h }), Err(Error::BadHandle));
        assert_eq!(s.close(h), Err(Error::BadHandle), "harmless");
        for forged in [0, 1, 0xFFFF, 0x1_0001, u32::MAX] {
            assert_eq!(s.read(forged, 1), Err(Error::BadHandle));
        }
    }
    // Paths that are not paths.
    assert_eq!(s.stat(""), Err(Error::InvalidArgument));
    assert_eq!(s.stat("etc/motd"), Err(Error::InvalidArgument));
    assert_eq!(s.stat(&"/a".repeat(600)), Err(Error::TooLarge));
    // FAT refuses characters it cannot store; the error says so instead of failing later.
    assert_eq!(s.open("/data/a:b", NEW), Err(Error::InvalidArgument));
    assert_eq!(s.open("/data/what?", NEW), Err(Error::InvalidArgument));
    // A huge read length is capped, not allocated.
    let h = s.open("/etc/motd", F::READ).unwrap();
    assert_eq!(s.read(h, u32::MAX).unwrap().len(), 22);
    assert_eq!(s.read(h, 0), Ok(vec![]));
    s.close(h).unwrap();
    assert_eq!(s.vfs.open_handles(), 0);
}

#[test]
fn handle_limits() {
    let mut s = Sys::boot(None, 1 << 20);
    let mut handles = Vec::new();
    s.pid = 1;
    for _ in 0..MAX_HANDLES_PER_SERVICE {
        handles.push(s.open("/etc/motd", F::READ).unwrap());
    }
    assert_eq!(s.open("/etc/motd", F::READ), Err(Error::Busy));
    // Not even a create happens when the handle could not be kept.
    assert_eq!(s.open("/tmp/new", NEW), Err(Error::Busy));
    assert_eq!(s.stat("/tmp/new"), Err(Error::NotFound));
    // Another client still gets its share, up to the global limit.
    s.pid = 2;
    for _ in 0..MAX_HANDLES - MAX_HANDLES_PER_SERVICE {
        handles.push(s.open("/etc/motd", F::READ).unwrap());
    }
    s.pid = 3;
    assert_eq!(s.open("/etc/motd", F::READ), Err(Error::Busy));
    for h in handles {
        s.close(h).unwrap();
    }
    assert_eq!(s.open("/etc/motd", F::READ).map(|_| ()), Ok(()));
}

#[test]
fn runs_get_fair_shares_and_the_system_keeps_its_reserve() {
    let mut s = Sys::boot(None, 1 << 20);
    let mut by_run: Vec<(Pid, Vec<u32>)> = Vec::new();
    // Runs open all they can: each its share, together all but the system's reserve.
    let mut pid = 10;
    let mut taken = 0;
    while taken < MAX_HANDLES - SYSTEM_HANDLES {
        s.pid = pid;
        let mut mine = Vec::new();
        while let Ok(h) = s.open("/etc/motd", F::READ) {
            mine.push(h);
        }
        assert_eq!(s.open("/tmp/x", NEW), Err(Error::Busy), "pid {pid}");
        assert!(mine.len() <= MAX_HANDLES_PER_RUN);
        taken += mine.len();
        by_run.push((pid, mine));
        pid += 1;
    }
    assert_eq!(by_run[0].1.len(), MAX_HANDLES_PER_RUN);
    s.pid = pid;
    assert_eq!(
        s.open("/etc/motd", F::READ),
        Err(Error::Busy),
        "no room left for runs"
    );
    // The shell (the console's client, pid 1) and the other services still open files.
    for service in SERVICES {
        s.pid = service;
        let h = s.open("/etc/motd", F::READ).unwrap();
        assert_eq!(s.read(h, 100).unwrap(), b"Welcome to ZeroBus OS\n");
        s.close(h).unwrap();
    }
    s.pid = 1;
    let reserve: Vec<u32> = (0..SYSTEM_HANDLES)
        .map(|_| s.open("/etc/motd", F::READ).unwrap())
        .collect();
    assert_eq!(
        s.open("/etc/motd", F::READ),
        Err(Error::Busy),
        "the table is full"
    );
    for h in reserve {
        s.close(h).unwrap();
    }
    // A run ends: the kernel closes each handle it held (from pid 0), and its share is free
    // for the next run.
    let (_, ended) = by_run.remove(0);
    s.pid = 0;
    for h in ended {
        s.close(h).unwrap();
    }
    s.pid = pid;
    for _ in 0..MAX_HANDLES_PER_RUN {
        s.open("/etc/motd", F::READ).unwrap();
    }
    assert_eq!(s.open("/etc/motd", F::READ), Err(Error::Busy));
}

#[test]
fn directory_reads_resume_with_whole_entries() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    for dir in ["/tmp/many", "/data/many"] {
        s.mkdir(dir).unwrap();
        let mut want = Vec::new();
        for i in 0..40 {
            let name = format!("file-with-a-longish-name-{i:02}.txt");
            s.put(&format!("{dir}/{name}"), b"").unwrap();
            want.push(name);
        }
        s.mkdir(&format!("{dir}/sub")).unwrap();
        want.push("sub".to_string());
        want.sort();
        for budget in [40, 41, 100, 4096] {
            let got = s.ls_with(dir, budget).unwrap();
            let mut names: Vec<String> = got.iter().map(|(_, n)| n.clone()).collect();
            names.sort();
            assert_eq!(names, want, "{dir} budget {budget}");
            assert!(got.contains(&(FileKind::Dir, "sub".to_string())));
        }
        // A budget too small for the next entry is an error, not a false end.
        let h = s.open(dir, F::DIRECTORY).unwrap();
        assert_eq!(s.read(h, 10), Err(Error::InvalidArgument));
        assert!(!s.read(h, 100).unwrap().is_empty());
        // Seeking back to 0 lists from the start again.
        assert_eq!(s.seek(h, 0, Whence::Start), Ok(0));
        assert_eq!(s.seek(h, 0, Whence::End), Err(Error::InvalidArgument));
        let all = s.read(h, 65536).unwrap();
        assert_eq!(zb_abi::scheme::dirents(&all).count(), 41);
        assert_eq!(s.read(h, 65536), Ok(vec![]));
        s.close(h).unwrap();
    }
}

#[test]
fn fat_writes_inside_and_past_the_end() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    s.put("/data/f", b"hello world").unwrap();
    let h = s.open("/data/f", RW).unwrap();
    assert_eq!(s.seek(h, 6, Whence::Start), Ok(6));
    assert_eq!(s.write(h, b"WORLD!!"), Ok(7));
    assert_eq!(s.seek(h, 0, Whence::Current), Ok(13));
    assert_eq!(s.seek(h, 0, Whence::End), Ok(13));
    assert_eq!(s.seek(h, 2, Whence::Start), Ok(2));
    assert_eq!(s.write(h, b"LL"), Ok(2));
    assert_eq!(s.seek(h, 20, Whence::Start), Ok(20));
    assert_eq!(s.write(h, b"end"), Ok(3));
    s.close(h).unwrap();
    let mut want = b"heLLo WORLD!!".to_vec();
    want.resize(20, 0);
    want.extend_from_slice(b"end");
    assert_eq!(s.cat("/data/f").unwrap(), want);
    // Across many clusters (512-byte clusters here): overwrite a span in the middle.
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    s.put("/data/big", &big).unwrap();
    let h = s.open("/data/big", RW).unwrap();
    s.seek(h, 1000, Whence::Start).unwrap();
    assert_eq!(s.write(h, &[0xAA; 1500]), Ok(1500));
    s.close(h).unwrap();
    let mut want = big.clone();
    want[1000..2500].fill(0xAA);
    assert_eq!(s.cat("/data/big").unwrap(), want);
    assert_eq!(s.stat("/data/big").unwrap().size, 5000);
}

#[test]
fn acknowledged_writes_survive_a_power_cut() {
    let disk = MemDisk::new(16 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    s.put("/data/keep.txt", b"kept").unwrap();
    s.mkdir("/data/dir").unwrap();
    s.put("/data/dir/gone", b"x").unwrap();
    s.unlink("/data/dir/gone").unwrap();
    // Written and acknowledged, never closed.
    let h = s.open("/data/open.txt", NEW).unwrap();
    assert_eq!(s.write(h, b"acked"), Ok(5));
    let flushes = disk.flushes.get();
    assert!(flushes > 0);

    // Power cut: only flushed blocks survive; a new system mounts them.
    let after = disk.after_power_cut();
    let mut s2 = Sys::pc(after);
    assert!(!s2.host.log.contains("formatted"), "{}", s2.host.log);
    assert!(s2.host.log.contains("vfs: mounted /data (fat16 rw"));
    assert_eq!(s2.cat("/data/keep.txt").unwrap(), b"kept");
    assert_eq!(s2.cat("/data/open.txt").unwrap(), b"acked");
    assert_eq!(s2.ls("/data"), sorted(&["keep.txt", "open.txt", "dir"]));
    assert_eq!(s2.ls("/data/dir"), Vec::<String>::new());
    // Reads do not flush.
    let flushes = after.flushes.get();
    s2.cat("/data/keep.txt").unwrap();
    s2.stat("/data/dir").unwrap();
    s2.statfs("/data").unwrap();
    assert_eq!(after.flushes.get(), flushes);
}

#[test]
fn formats_only_blank_devices() {
    // A blank device is formatted once; the second boot mounts what is there.
    let disk = MemDisk::new(2 << 20, 512, "virtio-blk");
    let s = Sys::pc(disk);
    assert!(
        s.host.log.contains("vfs: formatted /data (fat12"),
        "{}",
        s.host.log
    );
    let s = Sys::pc(disk);
    assert!(!s.host.log.contains("formatted"));
    // Erased flash reads 0xFF: blank too.
    let flash = MemDisk::from_image(vec![0xFF; 64 << 10], 512, "flash", true);
    let mut s = Sys::boot(Some(flash), 110 << 10);
    assert!(
        s.host
            .log
            .contains("vfs: formatted /data (fat12, 64.0 KiB on flash)")
    );
    assert_eq!(s.ls("/data"), Vec::<String>::new());
    // Something that is not FAT but has a boot signature is left alone: /data is in RAM.
    let mut image = vec![0x42; 1 << 20];
    image[510] = 0x55;
    image[511] = 0xAA;
    let foreign = MemDisk::from_image(image.clone(), 512, "virtio-blk", true);
    let mut s = Sys::pc(foreign);
    assert!(
        s.host
            .log
            .contains("vfs: cannot mount virtio-blk (data corrupt); /data is in RAM")
    );
    assert_eq!(s.mounts().lines().last(), Some("- /data ramfs rw 0 0"));
    s.put("/data/x", b"in ram").unwrap();
    assert_eq!(*foreign.data.borrow(), image, "not one byte written");
    // A blank read-only device cannot be formatted.
    let ro = MemDisk::from_image(vec![0; 1 << 20], 512, "virtio-blk", false);
    let s = Sys::pc(ro);
    assert!(
        s.host
            .log
            .contains("vfs: cannot mount virtio-blk (read-only file system)")
    );
    // No device at all.
    let mut s = Sys::boot(None, 1 << 20);
    assert!(
        s.host
            .log
            .contains("vfs: no block device; /data is in RAM, not persistent")
    );
    s.put("/data/x", b"1").unwrap();
    assert_eq!(s.cat("/data/x").unwrap(), b"1");
}

#[test]
fn read_only_device_mounts_read_only() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    s.put("/data/f", b"data").unwrap();
    let ro = MemDisk::from_image(disk.data.borrow().clone(), 512, "virtio-blk", false);
    let mut s = Sys::pc(ro);
    assert_eq!(
        s.mounts().lines().last(),
        Some("virtio-blk /data fat12 ro 0 0")
    );
    assert_eq!(s.cat("/data/f").unwrap(), b"data");
    assert_eq!(s.open("/data/f", RW), Err(Error::ReadOnly));
    assert_eq!(s.open("/data/g", NEW), Err(Error::ReadOnly));
    assert_eq!(s.mkdir("/data/d"), Err(Error::ReadOnly));
    assert_eq!(s.unlink("/data/f"), Err(Error::ReadOnly));
    assert_eq!(s.rename("/data/f", "/data/g"), Err(Error::ReadOnly));
    assert!(s.statfs("/data").unwrap().read_only);
}

#[test]
fn the_16k_flash_device() {
    let flash = MemDisk::new(16 << 10, 512, "flash");
    let mut s = Sys::boot(Some(flash), 110 << 10);
    assert!(
        s.host
            .log
            .contains("vfs: formatted /data (fat12, 16.0 KiB on flash)")
    );
    assert_eq!(s.mounts().lines().last(), Some("flash /data fat12 rw 0 0"));
    let info = s.statfs("/data").unwrap();
    assert_eq!((info.total, info.free), (27 * 512, 27 * 512));
    s.put("/data/hello.txt", b"hello from flash\n").unwrap();
    assert_eq!(s.statfs("/data").unwrap().free, 26 * 512);
    let mut s2 = Sys::boot(Some(flash.after_power_cut()), 110 << 10);
    assert_eq!(s2.cat("/data/hello.txt").unwrap(), b"hello from flash\n");
    // Small heap, small reads: a long read comes back in pieces.
    let h = s2.open("/data/hello.txt", F::READ).unwrap();
    assert!(s2.read(h, 65536).unwrap().len() <= 2048);
    s2.close(h).unwrap();
    // /tmp's quota follows the heap (an eighth of 110 KiB).
    assert_eq!(s2.statfs("/tmp").unwrap().total, (110 << 10) / 8);
}

#[test]
fn a_full_device_is_no_space_and_stays_consistent() {
    let flash = MemDisk::new(16 << 10, 512, "flash");
    let mut s = Sys::boot(Some(flash), 110 << 10);
    let total = s.statfs("/data").unwrap().free;
    s.put("/data/small", b"small file").unwrap();
    // Fill the rest with one file, a cluster at a time.
    let h = s.open("/data/fill", NEW).unwrap();
    let mut written = 0u64;
    let err = loop {
        match s.write(h, &[0x5A; 512]) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::NoSpace);
    assert_eq!(written, total - 512, "every cluster but the small file's");
    assert_eq!(s.statfs("/data").unwrap().free, 0);
    // A big write that does not fit changes nothing; so does a write into a new file.
    assert_eq!(s.write(h, &[1; 2000]), Err(Error::NoSpace));
    s.close(h).unwrap();
    assert_eq!(s.put("/data/more", b"x"), Err(Error::NoSpace));
    assert_eq!(s.stat("/data/fill").unwrap().size, written);
    assert_eq!(s.cat("/data/small").unwrap(), b"small file");
    assert_eq!(s.cat("/data/fill").unwrap(), vec![0x5A; written as usize]);
    // Directory entries: the 32-entry root fills up too.
    s.unlink("/data/fill").unwrap();
    let mut made = 0;
    let err = loop {
        match s.open(&format!("/data/{made}"), NEW) {
            Ok(h) => {
                s.close(h).unwrap();
                made += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::NoSpace);
    assert!(made >= 20, "{made}");
    for i in 0..made {
        s.unlink(&format!("/data/{i}")).unwrap();
    }
    // Everything freed is free again, here and after a power cut.
    s.unlink("/data/more").unwrap();
    s.unlink("/data/small").unwrap();
    assert_eq!(s.statfs("/data").unwrap().free, total);
    let mut s2 = Sys::boot(Some(flash.after_power_cut()), 110 << 10);
    assert_eq!(s2.statfs("/data").unwrap().free, total);
    assert_eq!(s2.ls("/data"), Vec::<String>::new());
    s2.put("/data/again", &[7; 4000]).unwrap();
    assert_eq!(s2.cat("/data/again").unwrap(), vec![7; 4000]);
    fsck(flash, "full device");
}

#[test]
fn tmp_quota_is_no_space() {
    let config = VfsConfig {
        tmp_quota: Some(4096),
        ..VfsConfig::default()
    };
    let mut s = Sys::boot_with(None, 1 << 20, config);
    let h = s.open("/tmp/big", NEW).unwrap();
    assert_eq!(s.write(h, &[1; 5000]), Err(Error::NoSpace));
    assert_eq!(s.write(h, &[1; 3000]), Ok(3000));
    s.close(h).unwrap();
    let mut n = 0;
    while s.put(&format!("/tmp/{n}"), b"").is_ok() {
        n += 1;
    }
    assert!(n < 20, "empty files are bounded too: {n}");
    assert_eq!(s.mkdir("/tmp/d"), Err(Error::NoSpace));
    s.unlink("/tmp/big").unwrap();
    s.mkdir("/tmp/d").unwrap();
}

#[test]
fn device_errors_are_reported() {
    let disk = MemDisk::new(1 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    s.put("/data/f", b"before").unwrap();
    disk.fail_writes.set(Some(Error::Corrupt));
    let h = s.open("/data/f", RW).unwrap();
    assert_eq!(s.write(h, b"after"), Err(Error::Corrupt));
    assert_eq!(s.mkdir("/data/d"), Err(Error::Corrupt));
    s.close(h).unwrap_err();
    disk.fail_writes.set(None);
    // Once the device works again, the pending blocks go out and the volume is usable.
    s.put("/data/g", b"ok").unwrap();
    let mut s2 = Sys::pc(disk.after_power_cut());
    assert_eq!(s2.cat("/data/g").unwrap(), b"ok");
}

#[test]
fn other_block_sizes() {
    for bs in [1024, 4096] {
        let disk = MemDisk::new(1 << 20, bs, "virtio-blk");
        let mut s = Sys::pc(disk);
        s.put("/data/x", &[3; 10_000]).unwrap();
        let mut s2 = Sys::pc(disk.after_power_cut());
        assert_eq!(s2.cat("/data/x").unwrap(), vec![3; 10_000]);
    }
    // A block size FAT cannot use directly: 512-byte sectors over it.
    let odd = MemDisk::new(256 << 10, 256, "odd");
    let mut s = Sys::boot(Some(odd), 1 << 20);
    s.put("/data/x", b"odd").unwrap();
    assert_eq!(s.cat("/data/x").unwrap(), b"odd");
}

/// Random operations on /tmp and /data against a model of what the files should hold, then
/// a power cut and a remount that must show the same.
#[test]
fn random_operations_match_a_model() {
    use std::collections::BTreeMap;
    let disk = MemDisk::new(16 << 20, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    s.mkdir("/data/d").unwrap();
    for step in 0..600 {
        let dir = if rnd(3) == 0 { "/tmp" } else { "/data/d" };
        let path = format!("{dir}/f{}", rnd(6));
        match rnd(10) {
            0..=5 => {
                let len = rnd(3000) as usize;
                let data: Vec<u8> = (0..len).map(|i| (i as u64 + step) as u8).collect();
                let file = model.get(&path).map_or(0, Vec::len) as u64;
                let pos = rnd(file + 1000);
                let append = rnd(4) == 0;
                let flags = if append {
                    F::WRITE | F::CREATE | F::APPEND
                } else {
                    F::WRITE | F::CREATE
                };
                let h = s.open(&path, flags).unwrap();
                s.seek(h, pos as i64, Whence::Start).unwrap();
                assert_eq!(s.write(h, &data), Ok(len as u64), "step {step}");
                s.close(h).unwrap();
                let m = model.entry(path.clone()).or_default();
                let at = if append { m.len() } else { pos as usize };
                if len > 0 {
                    if m.len() < at + len {
                        m.resize(at + len, 0);
                    }
                    m[at..at + len].copy_from_slice(&data);
                }
            }
            6 => {
                let r = s.unlink(&path);
                assert_eq!(r.is_ok(), model.remove(&path).is_some(), "step {step}");
            }
            7 => {
                if model.contains_key(&path) {
                    let h = s.open(&path, F::WRITE | F::TRUNCATE).unwrap();
                    s.close(h).unwrap();
                    model.insert(path.clone(), Vec::new());
                }
            }
            8 => {
                let to = format!("{dir}/f{}", rnd(6));
                let r = s.rename(&path, &to);
                match model.remove(&path) {
                    Some(v) => {
                        assert_eq!(r, Ok(0), "step {step}");
                        model.insert(to, v);
                    }
                    None => assert_eq!(r, Err(Error::NotFound)),
                }
            }
            _ => {
                let got = s.cat(&path);
                match model.get(&path) {
                    Some(v) => assert_eq!(&got.unwrap(), v, "step {step} {path}"),
                    None => assert_eq!(got, Err(Error::NotFound)),
                }
            }
        }
    }
    for (path, want) in &model {
        assert_eq!(&s.cat(path).unwrap(), want, "{path}");
    }
    let mut s2 = Sys::pc(disk.after_power_cut());
    for (path, want) in model.iter().filter(|(p, _)| p.starts_with("/data")) {
        assert_eq!(&s2.cat(path).unwrap(), want, "{path} after the power cut");
    }
    let want: Vec<String> = model
        .keys()
        .filter_map(|p| p.strip_prefix("/data/d/"))
        .map(String::from)
        .collect();
    assert_eq!(s2.ls("/data/d"), want);
    // The free count agrees with what the files take.
    let info = s2.statfs("/data").unwrap();
    let used: u64 = model
        .iter()
        .filter(|(p, _)| p.starts_with("/data"))
        .map(|(_, v)| (v.len() as u64).div_ceil(1024) * 1024)
        .sum();
    assert_eq!(
        info.total - info.free,
        used + 1024,
        "files plus the directory's cluster"
    );
}

/// Runs `fsck.fat -n` (dosfstools) on the device's durable image: the independent check that
/// the formatter and every write left a volume other systems accept. Skipped (with a note)
/// where dosfstools is not installed.
fn fsck(disk: &MemDisk, what: &str) -> bool {
    use std::process::Command;
    let path = std::env::temp_dir().join(format!(
        "zb-vfs-fsck-{}-{}.img",
        std::process::id(),
        what.replace(' ', "-")
    ));
    std::fs::write(&path, &*disk.durable.borrow()).unwrap();
    let run = Command::new("fsck.fat")
        .arg("-n")
        .arg("-v")
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let Ok(out) = run else {
        std::eprintln!("fsck.fat not installed: {what} not checked");
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fsck.fat on {what}:\n{text}");
    assert!(
        !text.contains("differ") && !text.contains("Free cluster summary"),
        "{what}:\n{text}"
    );
    true
}

#[test]
fn volumes_pass_fsck() {
    // Fresh volumes of every shape the formatter makes.
    for (bytes, bs) in [
        (16 << 10, 512),
        (64 << 10, 4096),
        (2 << 20, 512),
        (16 << 20, 512),
    ] {
        let disk = MemDisk::new(bytes, bs, "virtio-blk");
        let mut s = Sys::pc(disk);
        if !fsck(disk, &format!("fresh {bytes} {bs}")) {
            return;
        }
        // A workload: long and short names, directories, overwrites, gaps, deletes, renames.
        s.mkdir("/data/A Long Directory Name").unwrap();
        s.put("/data/A Long Directory Name/file with spaces.txt", b"x")
            .unwrap();
        s.put("/data/short.txt", &[1; 3000]).unwrap();
        let h = s.open("/data/short.txt", RW).unwrap();
        s.seek(h, 100, Whence::Start).unwrap();
        s.write(h, &[2; 200]).unwrap();
        s.seek(h, 5000, Whence::Start).unwrap();
        let _ = s.write(h, &[3; 100]);
        s.close(h).unwrap();
        s.put("/data/gone", b"bye").unwrap();
        s.unlink("/data/gone").unwrap();
        s.rename("/data/short.txt", "/data/A Long Directory Name/moved.bin")
            .unwrap();
        // Fill up (on the small ones) and free again.
        let h = s.open("/data/fill", NEW).unwrap();
        for _ in 0..40 {
            if s.write(h, &[9; 1024]).is_err() {
                break;
            }
        }
        s.close(h).unwrap();
        fsck(disk, &format!("used {bytes} {bs}"));
        s.unlink("/data/fill").unwrap();
        fsck(disk, &format!("freed {bytes} {bs}"));
    }
}

/// A damaged volume is errors, never a panic: flip bytes of a used volume's metadata (boot
/// sector, FATs, root directory, a subdirectory) and run a session on each result.
#[test]
fn damaged_volumes_never_panic() {
    let disk = MemDisk::new(64 << 10, 512, "virtio-blk");
    let mut s = Sys::pc(disk);
    s.mkdir("/data/dir").unwrap();
    s.put("/data/dir/a-long-file-name.txt", &[1; 1500]).unwrap();
    s.put("/data/b", &[2; 700]).unwrap();
    let good = disk.durable.borrow().clone();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..300 {
        let mut image = good.clone();
        for _ in 0..1 + round % 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // The first 8 KiB hold the boot sector, FATs, root and the first clusters.
            let at = (x % 8192) as usize;
            image[at] = (x >> 32) as u8;
        }
        let damaged = MemDisk::from_image(image, 512, "virtio-blk", true);
        let mut s = Sys::pc(damaged);
        let _ = s.ls_with("/data", 4096);
        let _ = s.ls_with("/data/dir", 4096);
        let _ = s.cat("/data/dir/a-long-file-name.txt");
        let _ = s.cat("/data/b");
        let _ = s.statfs("/data");
        let _ = s.put("/data/new", &[3; 2000]);
        let _ = s.put("/data/dir/a-long-file-name.txt", b"short");
        if let Ok(h) = s.open("/data/b", RW) {
            let _ = s.seek(h, 300, Whence::Start);
            let _ = s.write(h, &[4; 1000]);
            let _ = s.close(h);
        }
        let _ = s.rename("/data/b", "/data/dir/b");
        let _ = s.unlink("/data/dir/b");
        let _ = s.rmdir("/data/dir");
        let _ = s.mkdir("/data/d2");
    }
}
