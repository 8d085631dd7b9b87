//! Files and other URLs: [`File`] (`open`/`read`/`write`/`seek`, closed on drop), [`stdin`],
//! and the path calls [`stat`], [`mkdir`], [`remove`], [`rmdir`], [`rename`].
//!
//! A URL is `scheme://…` or an absolute path (`/data/x` means `file:///data/x`). What a run
//! may open is limited by its URL grants (`run --allow file:///data/app prog`); anything else
//! fails with [`Error::PermissionDenied`]. Calls block the run until the scheme's handler
//! (the vfs service, the console) answers.

use zb_abi::scheme::{STAT_SIZE, STDIN, Stat, Whence};

pub use zb_abi::scheme::{FileKind, OpenFlags};

use crate::{Error, decode, len32, ptr32, sys};

/// An open URL. Closed when dropped.
#[derive(Debug)]
pub struct File {
    handle: i32,
}

impl File {
    /// Opens `url` with `flags`.
    pub fn open(url: &str, flags: OpenFlags) -> Result<File, Error> {
        let len = len32(url.len())?;
        // SAFETY: the kernel reads `len` bytes at `url`, which we borrow.
        let h = decode(unsafe { sys::open(ptr32(url.as_ptr()), len, flags.bits() as i32) })?;
        Ok(File {
            handle: h as u32 as i32,
        })
    }

    /// Opens `url` for reading.
    pub fn read_only(url: &str) -> Result<File, Error> {
        File::open(url, OpenFlags::READ)
    }

    /// Creates (or empties) `url` for writing.
    pub fn create(url: &str) -> Result<File, Error> {
        File::open(
            url,
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        )
    }

    /// Reads into `buf`; 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        read_handle(self.handle, buf)
    }

    /// Writes up to all of `data`; how much was written.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        let len = data.len().min(zb_abi::syscall::MAX_WRITE);
        // SAFETY: the kernel reads `len <= data.len()` bytes at `data`, which we borrow.
        let n = decode(unsafe { sys::write(self.handle, ptr32(data.as_ptr()), len as i32) })?;
        Ok(n as usize)
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            match self.write(data)? {
                0 => return Err(Error::NoSpace),
                n => data = data.get(n..).unwrap_or(&[]),
            }
        }
        Ok(())
    }

    /// Moves the position; the new position.
    pub fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64, Error> {
        decode(sys::seek(self.handle, offset, whence as i32))
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = sys::close(self.handle);
    }
}

fn read_handle(handle: i32, buf: &mut [u8]) -> Result<usize, Error> {
    let len = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the kernel writes at most `len <= buf.len()` bytes at `buf`, which we own.
    let n = decode(unsafe { sys::read(handle, ptr32(buf.as_mut_ptr()), len) })?;
    Ok(n as usize)
}

/// The terminal's input, when the run is in the foreground (otherwise end of input at once).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdin;

/// The run's stdin.
pub fn stdin() -> Stdin {
    Stdin
}

impl Stdin {
    /// Reads what is there (a typed line, usually); 0 at end of input (Ctrl-D).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        read_handle(STDIN as i32, buf)
    }
}

/// Calls `call(ptr, len)` with `url`; `call` must only read `len` bytes at `ptr`.
fn path_call(url: &str, call: impl FnOnce(i32, i32) -> i64) -> Result<(), Error> {
    let len = len32(url.len())?;
    decode(call(ptr32(url.as_ptr()), len)).map(drop)
}

/// What `url` is.
pub fn stat(url: &str) -> Result<Stat, Error> {
    let len = len32(url.len())?;
    let mut out = [0u8; STAT_SIZE];
    // SAFETY: the kernel reads `len` bytes at `url` and writes STAT_SIZE bytes at `out`.
    decode(unsafe { sys::stat(ptr32(url.as_ptr()), len, ptr32(out.as_mut_ptr())) })?;
    Stat::from_bytes(&out).ok_or(Error::Corrupt)
}

/// Creates directory `url`.
pub fn mkdir(url: &str) -> Result<(), Error> {
    // SAFETY: the kernel reads `len` bytes at `url`, which `path_call` borrows.
    path_call(url, |p, l| unsafe { sys::mkdir(p, l) })
}

/// Removes file `url`.
pub fn remove(url: &str) -> Result<(), Error> {
    // SAFETY: the kernel reads `len` bytes at `url`, which `path_call` borrows.
    path_call(url, |p, l| unsafe { sys::unlink(p, l) })
}

/// Removes empty directory `url`.
pub fn rmdir(url: &str) -> Result<(), Error> {
    // SAFETY: the kernel reads `len` bytes at `url`, which `path_call` borrows.
    path_call(url, |p, l| unsafe { sys::rmdir(p, l) })
}

/// Renames `from` to `to` (same scheme).
pub fn rename(from: &str, to: &str) -> Result<(), Error> {
    let (fl, tl) = (len32(from.len())?, len32(to.len())?);
    // SAFETY: the kernel reads `fl` bytes at `from` and `tl` at `to`, both borrowed.
    decode(unsafe { sys::rename(ptr32(from.as_ptr()), fl, ptr32(to.as_ptr()), tl) }).map(drop)
}
