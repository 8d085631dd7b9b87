//! The imports the worker's JavaScript glue provides (wasm import module `hal`), wrapped in
//! safe functions. Each import takes numbers only; byte ranges are (pointer, length) pairs in
//! the kernel's linear memory, which the glue reads or fills before returning. Offsets and
//! times are `f64` (exact up to 2^53, far beyond any file or uptime here).
//!
//! Invariants: every range passed lies inside a live Rust slice for the duration of the call;
//! the glue never keeps a pointer past the call's return.

mod sys {
    #[link(wasm_import_module = "hal")]
    unsafe extern "C" {
        /// Posts bytes to the page's terminal.
        pub fn console_write(ptr: *const u8, len: usize);
        /// Bytes the page takes before it falls behind (what it has not acknowledged as
        /// shown is bounded).
        pub fn console_room() -> usize;
        /// `performance.now()` in milliseconds since the worker started.
        pub fn now_ms() -> f64;
        /// `Date.now()`: milliseconds since 1970.
        pub fn wall_ms() -> f64;
        /// Size in bytes of storage file `file` (0: data, 1: journal), or a negative number if
        /// there is none (no OPFS, or it could not be opened).
        pub fn store_size(file: u32) -> f64;
        /// Reads `len` bytes at `offset` of file `file` into memory (past the file's end:
        /// zeros); 0 on success, negative on an I/O error.
        pub fn store_read(file: u32, offset: f64, ptr: *mut u8, len: usize) -> i32;
        /// Writes `len` bytes to `offset` of file `file`; 0 on success.
        pub fn store_write(file: u32, offset: f64, ptr: *const u8, len: usize) -> i32;
        /// `FileSystemSyncAccessHandle.flush()` of file `file`; 0 on success.
        pub fn store_flush(file: u32) -> i32;
        /// Writes why storage is not on OPFS into memory (at most `cap` bytes); the length.
        pub fn store_problem(ptr: *mut u8, cap: usize) -> usize;
        /// `navigator.userAgent`'s browser name and version into memory; the length.
        pub fn user_agent(ptr: *mut u8, cap: usize) -> usize;
        /// Tells the page the machine stopped (0: failure, 1: shutdown, 2: reboot). The
        /// kernel then traps, which ends the worker's call into it.
        pub fn power(action: u32);
        /// The page's query as boot arguments (`?node=b&nats=127.0.0.1:4222` → `node=b
        /// nats=127.0.0.1:4222`) into memory; the length.
        pub fn boot_args(ptr: *mut u8, cap: usize) -> usize;
        /// Opens the federation link's WebSocket to the URL in memory (closing any open
        /// one); 0 if it is being opened.
        pub fn ws_open(ptr: *const u8, len: usize) -> i32;
        /// Sends bytes as one binary message: `len` once queued, 0 while still connecting,
        /// negative if the socket is closed.
        pub fn ws_send(ptr: *const u8, len: usize) -> i32;
        /// Moves received bytes into memory (at most `cap`): how many, or negative once the
        /// socket is closed and everything it received was taken.
        pub fn ws_recv(ptr: *mut u8, cap: usize) -> i32;
        /// Bytes received and not yet taken.
        pub fn ws_pending() -> usize;
        pub fn ws_close();
    }
}

pub fn console_write(bytes: &[u8]) {
    // SAFETY: the range is the live slice `bytes` (module invariant).
    unsafe { sys::console_write(bytes.as_ptr(), bytes.len()) }
}

pub fn console_room() -> usize {
    // SAFETY: no arguments; the glue returns a number.
    unsafe { sys::console_room() }
}

pub fn now_ms() -> f64 {
    // SAFETY: no arguments; the glue returns a number.
    unsafe { sys::now_ms() }
}

pub fn wall_ms() -> f64 {
    // SAFETY: as above.
    unsafe { sys::wall_ms() }
}

/// Which OPFS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFile {
    Data = 0,
    Journal = 1,
}

pub fn store_size(file: StoreFile) -> Option<u64> {
    // SAFETY: numbers only.
    let size = unsafe { sys::store_size(file as u32) };
    (size >= 0.0).then_some(size as u64)
}

pub fn store_read(file: StoreFile, offset: u64, buf: &mut [u8]) -> bool {
    // SAFETY: the range is the live slice `buf`, which the glue fills before returning.
    unsafe { sys::store_read(file as u32, offset as f64, buf.as_mut_ptr(), buf.len()) == 0 }
}

pub fn store_write(file: StoreFile, offset: u64, data: &[u8]) -> bool {
    // SAFETY: the range is the live slice `data`.
    unsafe { sys::store_write(file as u32, offset as f64, data.as_ptr(), data.len()) == 0 }
}

pub fn store_flush(file: StoreFile) -> bool {
    // SAFETY: numbers only.
    unsafe { sys::store_flush(file as u32) == 0 }
}

/// Why storage is not on OPFS (empty when it is).
pub fn store_problem() -> alloc::string::String {
    let mut buf = [0u8; 160];
    // SAFETY: the range is the live array `buf`; the glue writes at most `cap` bytes.
    let n = unsafe { sys::store_problem(buf.as_mut_ptr(), buf.len()) }.min(buf.len());
    alloc::string::String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The browser's name and version (`Chromium 156`), or `unknown browser`.
pub fn user_agent() -> alloc::string::String {
    let mut buf = [0u8; 64];
    // SAFETY: as in `store_problem`.
    let n = unsafe { sys::user_agent(buf.as_mut_ptr(), buf.len()) }.min(buf.len());
    if n == 0 {
        return "unknown browser".into();
    }
    alloc::string::String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The page's boot arguments (see `sys::boot_args`), read once.
pub fn boot_args() -> &'static str {
    static ARGS: spin::Once<&'static str> = spin::Once::new();
    ARGS.call_once(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the range is the live array `buf`; the glue writes at most `cap` bytes.
        let n = unsafe { sys::boot_args(buf.as_mut_ptr(), buf.len()) }.min(buf.len());
        let text = alloc::string::String::from_utf8_lossy(&buf[..n]).into_owned();
        alloc::boxed::Box::leak(text.into_boxed_str())
    })
}

/// The federation link's WebSocket (see the imports above).
pub mod ws {
    use super::sys;

    pub fn open(url: &str) -> bool {
        // SAFETY: the range is the live string `url`.
        unsafe { sys::ws_open(url.as_ptr(), url.len()) == 0 }
    }

    /// `Some(n)` bytes queued (0: not open yet), `None`: closed.
    pub fn send(data: &[u8]) -> Option<usize> {
        // SAFETY: the range is the live slice `data`.
        let n = unsafe { sys::ws_send(data.as_ptr(), data.len()) };
        usize::try_from(n).ok()
    }

    /// `Some(n)` bytes received, `None`: closed.
    pub fn recv(buf: &mut [u8]) -> Option<usize> {
        // SAFETY: the range is the live slice `buf`, which the glue fills.
        let n = unsafe { sys::ws_recv(buf.as_mut_ptr(), buf.len()) };
        usize::try_from(n).ok()
    }

    pub fn pending() -> bool {
        // SAFETY: no arguments.
        unsafe { sys::ws_pending() > 0 }
    }

    pub fn close() {
        // SAFETY: no arguments.
        unsafe { sys::ws_close() }
    }
}

/// Stops with a message, before the console exists.
pub fn fail(why: &[u8]) -> ! {
    console_write(why);
    zb_hal::Power::shutdown(&POWER, false)
}

/// Power: tell the page, then trap out of the worker's call (nothing runs after this).
pub struct WebPower;
pub static POWER: WebPower = WebPower;

impl zb_hal::Power for WebPower {
    fn shutdown(&self, success: bool) -> ! {
        // SAFETY: a number only.
        unsafe { sys::power(u32::from(success)) };
        core::arch::wasm32::unreachable()
    }

    fn reboot(&self) -> ! {
        // SAFETY: a number only.
        unsafe { sys::power(2) };
        core::arch::wasm32::unreachable()
    }
}
