//! The raw HOST imports, exactly as [`zb_abi::syscall`] declares them (import module `zb`).
//!
//! This module is the only place the SDK declares foreign functions. The functions that take
//! no pointers are `safe`: the kernel validates every argument and a bad one is an error code,
//! never undefined behaviour. The ones that take `(ptr, len)` pairs are `unsafe`: the kernel
//! checks that the range lies inside the run's linear memory, but it cannot know whether Rust
//! code owns that memory, so the caller promises what the kernel will read or write.
//!
//! Conventions (from the ABI): pointers and lengths are `i32` offsets into linear memory; a
//! result `>= 0` is success, a negative one is `-(zb_abi::Error code)`
//! (decode it with [`crate::decode`]). Programs should use the safe wrappers in the crate root;
//! this module is public for programs that test the ABI itself (see `hostile`).
//!
//! Off wasm32 (host unit tests, `cargo clippy` on the host) the same functions exist as stubs
//! that fail with [`zb_abi::Error::Unsupported`], so code using the SDK compiles everywhere.

#[cfg(target_arch = "wasm32")]
pub use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub use host::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    // SAFETY: every signature below matches the HOST import table in `zb_abi::syscall`
    // (module "zb", wasm types i32/i64); the kernel links exactly these names and types and
    // refuses a module importing anything else (status `invalid`).
    #[link(wasm_import_module = "zb")]
    unsafe extern "C" {
        /// Ends the run with `ok(code)`.
        // SAFETY: takes no pointer; the kernel never returns from it.
        #[link_name = "exit"]
        pub safe fn exit(code: i32) -> !;

        /// Lets other runs go first.
        // SAFETY: takes no argument.
        #[link_name = "yield"]
        pub safe fn yield_now();

        /// This run's pid.
        // SAFETY: takes no argument.
        #[link_name = "getpid"]
        pub safe fn getpid() -> i64;

        /// Microseconds since boot.
        // SAFETY: takes no argument.
        #[link_name = "clock"]
        pub safe fn clock() -> i64;

        /// Blocks at least `us` microseconds; 0.
        // SAFETY: takes no pointer; a negative `us` is an error code.
        #[link_name = "sleep"]
        pub safe fn sleep(us: i64) -> i64;

        /// Writes `len` bytes at `ptr` to `stream`; bytes written.
        // SAFETY: the kernel reads `[ptr, ptr + len)`; callers pass memory valid for reads.
        #[link_name = "write"]
        pub fn write(stream: i32, ptr: i32, len: i32) -> i64;

        /// Copies up to `cap` bytes of the arguments to `ptr`; their total length.
        // SAFETY: the kernel writes into `[ptr, ptr + cap)`; callers pass memory they own
        // exclusively (`&mut`).
        #[link_name = "args"]
        pub fn args(ptr: i32, cap: i32) -> i64;

        /// Starts `/bin/<name>` as a child; its pid.
        // SAFETY: the kernel reads the three ranges; callers pass memory valid for reads.
        #[link_name = "spawn"]
        pub fn spawn(
            name: i32,
            name_len: i32,
            args: i32,
            args_len: i32,
            grants: i32,
            ngrants: i32,
        ) -> i64;

        /// Writes up to `cap` granted handles (`u32` LE) at `out`; their count.
        // SAFETY: the kernel writes into `[out, out + 4 * cap)`; callers pass memory they
        // own exclusively.
        #[link_name = "grants"]
        pub fn grants(out: i32, cap: i32) -> i64;

        /// Waits for child `pid` to end; its encoded status.
        // SAFETY: takes no pointer.
        #[link_name = "wait"]
        pub safe fn wait(pid: i64) -> i64;

        /// Creates a channel; writes its two end handles (`u32` LE) at `out`; 0.
        // SAFETY: the kernel writes `[out, out + 8)`; callers pass memory they own
        // exclusively.
        #[link_name = "channel_create"]
        pub fn channel_create(out: i32) -> i64;

        /// Sends a message with handles; 0.
        // SAFETY: the kernel reads `[ptr, ptr + len)` and `[handles, handles + 4 * nhandles)`;
        // callers pass memory valid for reads.
        #[link_name = "send"]
        pub fn send(h: i32, ptr: i32, len: i32, handles: i32, nhandles: i32, flags: i32) -> i64;

        /// Receives a message with handles; `recv_result(bytes, handles)`.
        // SAFETY: the kernel writes into `[ptr, ptr + cap)` and
        // `[handles, handles + 4 * hcap)`; callers pass memory they own exclusively.
        #[link_name = "recv"]
        pub fn recv(h: i32, ptr: i32, cap: i32, handles: i32, hcap: i32, flags: i32) -> i64;

        /// Closes a handle; 0.
        // SAFETY: takes no pointer; handles are generation-checked, so a wrong one is an
        // error code, never another object.
        #[link_name = "close"]
        pub safe fn close(h: i32) -> i64;

        /// `open(url, url_len, flags)` → handle.
        #[link_name = "open"]
        pub fn open(url: i32, url_len: i32, flags: i32) -> i64;

        /// `read(h, ptr, len)` → bytes read (0 = stdin).
        #[link_name = "read"]
        pub fn read(h: i32, ptr: i32, len: i32) -> i64;

        /// `seek(h, offset, whence)` → new position.
        #[link_name = "seek"]
        pub safe fn seek(h: i32, offset: i64, whence: i32) -> i64;

        /// `stat(url, url_len, out)` writes `STAT_SIZE` bytes.
        #[link_name = "stat"]
        pub fn stat(url: i32, url_len: i32, out: i32) -> i64;

        /// `readdir(h, ptr, cap)` → bytes of packed entries.
        #[link_name = "readdir"]
        pub fn readdir(h: i32, ptr: i32, cap: i32) -> i64;

        /// `unlink(url, url_len)`.
        #[link_name = "unlink"]
        pub fn unlink(url: i32, url_len: i32) -> i64;

        /// `mkdir(url, url_len)`.
        #[link_name = "mkdir"]
        pub fn mkdir(url: i32, url_len: i32) -> i64;

        /// `rmdir(url, url_len)`.
        #[link_name = "rmdir"]
        pub fn rmdir(url: i32, url_len: i32) -> i64;

        /// `rename(from, from_len, to, to_len)`.
        #[link_name = "rename"]
        pub fn rename(from: i32, from_len: i32, to: i32, to_len: i32) -> i64;

        /// `statfs(url, url_len, out)` writes `FSINFO_SIZE` bytes.
        #[link_name = "statfs"]
        pub fn statfs(url: i32, url_len: i32, out: i32) -> i64;

        /// `emit(name, name_len, payload, payload_len, headers, headers_len)` → sequence
        /// number (with `EMIT_DUPLICATE` for a repeat), once durable.
        #[link_name = "emit"]
        pub fn emit(name: i32, name_len: i32, p: i32, p_len: i32, h: i32, h_len: i32) -> i64;

        /// `subscribe(pattern, len, opts, opts_len)` → handle.
        #[link_name = "subscribe"]
        pub fn subscribe(pattern: i32, len: i32, opts: i32, opts_len: i32) -> i64;

        /// `next(h, buf, cap, flags)` → length of the encoded event.
        #[link_name = "next"]
        pub fn next(h: i32, buf: i32, cap: i32, flags: i32) -> i64;

        /// `ack(h, seq, failed)`.
        // SAFETY: takes no pointer.
        #[link_name = "ack"]
        pub safe fn ack(h: i32, seq: i64, failed: i32) -> i64;

        /// `last_error(buf, cap)` → length of the reason.
        #[link_name = "last_error"]
        pub fn last_error(buf: i32, cap: i32) -> i64;

        /// `scan(view, view_len, key, key_len, out, cap)` → length of the answer.
        #[link_name = "scan"]
        pub fn scan(view: i32, view_len: i32, key: i32, key_len: i32, out: i32, cap: i32) -> i64;

        /// `seal(view, view_len)` → the snapshot's height.
        #[link_name = "seal"]
        pub fn seal(view: i32, view_len: i32) -> i64;

        /// `timer(spec, len)`: sets or cancels a timer.
        #[link_name = "timer"]
        pub fn timer(spec: i32, len: i32) -> i64;
    }
}

/// Host stand-ins with the same signatures: every call fails with `Unsupported`.
#[cfg(not(target_arch = "wasm32"))]
#[allow(missing_docs, clippy::missing_safety_doc, clippy::too_many_arguments)]
mod host {
    const UNSUPPORTED: i64 = -(zb_abi::Error::Unsupported as i64);

    /// There is no run to end off wasm32: panics (host tests only).
    pub fn exit(code: i32) -> ! {
        panic!("zb_sdk::exit({code}) called outside a ZeroBus run")
    }
    pub fn yield_now() {}
    pub fn getpid() -> i64 {
        UNSUPPORTED
    }
    pub fn clock() -> i64 {
        UNSUPPORTED
    }
    pub fn sleep(_us: i64) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn write(_stream: i32, _ptr: i32, _len: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn args(_ptr: i32, _cap: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn spawn(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn grants(_out: i32, _cap: i32) -> i64 {
        UNSUPPORTED
    }
    pub fn wait(_pid: i64) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn channel_create(_out: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn send(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn recv(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub fn close(_h: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn open(_: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn read(_: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub fn seek(_: i32, _: i64, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn stat(_: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn readdir(_: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn unlink(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn mkdir(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn rmdir(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn rename(_: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn statfs(_: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn emit(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn subscribe(_: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn next(_: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub fn ack(_: i32, _: i64, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn last_error(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn scan(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn seal(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
    pub unsafe fn timer(_: i32, _: i32) -> i64 {
        UNSUPPORTED
    }
}
