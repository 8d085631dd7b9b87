//! `hostile`: calls every HOST import with hostile arguments and checks that each comes back
//! with the documented error code (`zb_abi::syscall`), and that the kernel and this run
//! survive. Prints one line per check, then `hostile: all N checks passed` (exit 0), or the
//! failures and exit 1.
//!
//! Where the ABI documentation does not pin one code down (an unknown stream number, a cap
//! larger than any limit where either limit or bounds could be checked first), a check accepts
//! the plausible set and says so. Calls that write into this run's memory are only ever given
//! pointers outside it (or negative), so a kernel that wrongly accepted one would write
//! nothing that Rust owns. Blocking calls with bad arguments use `NONBLOCK` where the kernel
//! could otherwise legitimately wait forever.
//!
//! `hostile exit <code>` exits at once with `<code>` (used by the exit-status checks).
#![no_std]
#![no_main]

use core::arch::wasm32::memory_size;

use core::fmt::Write;
use zb_abi::syscall::{self, GRANT_SIZE, MAX_ARGS, MAX_GRANTS, MAX_NAME, NONBLOCK, STDERR, STDOUT};

use zb_sdk::io::{BufWriter, Stream};
use zb_sdk::{Channel, Error, Handle, Rights, StatusKind, println, raw_error, sys};

zb_sdk::entry!(main);

/// What a check accepts.
#[derive(Clone, Copy)]
enum Want {
    /// Exactly this error.
    Err(Error),
    /// Any of these errors (the ABI leaves the choice open).
    OneOf(&'static [Error]),
    /// Success, any value.
    Ok,
    /// Success with exactly this value.
    Eq(i64),
}

/// Failures remembered for the summary.
const MAX_FAILURES: usize = 24;

struct Checks {
    run: u32,
    failed: u32,
    failures: [&'static str; MAX_FAILURES],
}

impl Checks {
    /// Checks a raw HOST result against `want`; prints one line; returns whether it passed.
    fn check(&mut self, what: &'static str, got: i64, want: Want) -> bool {
        let pass = match want {
            Want::Err(e) => got == raw_error(e),
            Want::OneOf(es) => es.iter().any(|&e| got == raw_error(e)),
            Want::Ok => got >= 0,
            Want::Eq(v) => got == v,
        };
        let mut line = self.line(what, pass);
        let _ = match zb_sdk::decode(got) {
            Ok(v) => write!(line, "{v}"),
            Err(e) => write!(line, "{e}"),
        };
        if !pass {
            let _ = match want {
                Want::Err(e) => write!(line, " (want {e})"),
                Want::OneOf(es) => write!(line, " (want one of {es:?})"),
                Want::Ok => write!(line, " (want success)"),
                Want::Eq(v) => write!(line, " (want {v})"),
            };
        }
        line.push(b"\n");
        pass
    }

    /// Checks a fact about results already obtained; prints one line.
    fn truth(&mut self, what: &'static str, pass: bool) -> bool {
        self.line(what, pass)
            .push_str(if pass { "yes\n" } else { "no\n" });
        pass
    }

    /// Counts a check and starts its output line (`BufWriter` writes it when dropped).
    fn line(&mut self, what: &'static str, pass: bool) -> BufWriter<128> {
        self.run += 1;
        if !pass {
            if let Some(slot) = self.failures.get_mut(self.failed as usize) {
                *slot = what;
            }
            self.failed += 1;
        }
        let mut line = BufWriter::new(Stream::Stdout);
        line.push_str(if pass {
            "hostile: ok   "
        } else {
            "hostile: FAIL "
        })
        .push_str(what)
        .push_str(": ");
        line
    }
}

/// A pointer as the ABI's i32.
fn p<T>(x: *const T) -> i32 {
    x.expose_provenance() as i32
}

/// The first address past linear memory (pages are 1 byte, so pages = bytes).
fn end() -> i32 {
    memory_size::<0>() as i32
}

fn main() -> i32 {
    let mut t = Checks {
        run: 0,
        failed: 0,
        failures: [""; MAX_FAILURES],
    };
    let mut argbuf = [0u8; 64];
    if let Ok(args) = zb_sdk::args(&mut argbuf) {
        match args.get(0) {
            Some("exit") => return args.get(1).and_then(|c| c.parse().ok()).unwrap_or(99),
            Some("probe") => {
                probe(&mut t);
                return t.failed as i32;
            }
            _ => {}
        }
    }
    basics(&mut t);
    write(&mut t);
    args(&mut t);
    spawn(&mut t);
    wait(&mut t);
    grants(&mut t);
    channels(&mut t);

    if t.failed == 0 {
        println!("hostile: all {} checks passed", t.run);
        0
    } else {
        println!("hostile: {} of {} checks FAILED:", t.failed, t.run);
        for what in t.failures.iter().take(t.failed as usize) {
            println!("hostile:   {what}");
        }
        1
    }
}

fn basics(t: &mut Checks) {
    t.check("getpid is positive", sys::getpid(), Want::Ok);
    t.truth("getpid is not 0", sys::getpid() > 0);
    let c0 = sys::clock();
    sys::yield_now();
    t.truth("yield returns", true);
    let c1 = sys::clock();
    t.check("clock", c0, Want::Ok);
    t.truth("clock is monotonic", c1 >= c0);
    t.check(
        "sleep(-1)",
        sys::sleep(-1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "sleep(i64::MIN)",
        sys::sleep(i64::MIN),
        Want::Err(Error::InvalidArgument),
    );
    t.check("sleep(0)", sys::sleep(0), Want::Eq(0));
    let before = sys::clock();
    t.check("sleep(1000 us)", sys::sleep(1000), Want::Eq(0));
    t.truth(
        "sleep(1000 us) lasts 1000 us",
        sys::clock() - before >= 1000,
    );
}

const STREAMS: &[Error] = &[Error::InvalidArgument, Error::BadHandle];
const TOO_BIG: &[Error] = &[Error::TooLarge, Error::BadAddress];

fn write(t: &mut Checks) {
    let msg = b"hostile: (a line on stderr)\n";
    let w = |stream: i32, ptr: i32, len: i32| {
        // SAFETY: `write` only reads; where the range is outside our memory the kernel must
        // refuse it, and where it is inside, reading it harms nothing.
        unsafe { sys::write(stream, ptr, len) }
    };
    let m = p(msg.as_ptr());
    t.check(
        "write: negative pointer",
        w(STDOUT, -1, 1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "write: negative length",
        w(STDOUT, m, -1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "write: pointer at end of memory",
        w(STDOUT, end(), 1),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "write: range across end of memory",
        w(STDOUT, end() - 1, 2),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "write: pointer i32::MAX",
        w(STDOUT, i32::MAX, 1),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "write: length i32::MAX",
        w(STDOUT, 0, i32::MAX),
        Want::Err(Error::TooLarge),
    );
    t.check("write: stream 0", w(0, m, 1), Want::OneOf(STREAMS));
    t.check("write: stream 3", w(3, m, 1), Want::OneOf(STREAMS));
    t.check("write: stream -1", w(-1, m, 1), Want::OneOf(STREAMS));
    t.check("write: zero bytes", w(STDOUT, m, 0), Want::Eq(0));
    t.check(
        "write: to stderr",
        w(STDERR, m, msg.len() as i32),
        Want::Eq(msg.len() as i64),
    );
}

fn args(t: &mut Checks) {
    // This run has no arguments, so only what the kernel must check whatever it copies is
    // checked here; `probe` (a child with arguments and a grant) checks the rest.
    let mut buf = [0u8; 16];
    // SAFETY: every pointer below is negative or outside our memory, except the last call's,
    // which is `buf` with its own length.
    let a = |ptr: i32, cap: i32| unsafe { sys::args(ptr, cap) };
    t.check(
        "args: negative pointer",
        a(-1, 4),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "args: negative capacity",
        a(0, -1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "args: pointer i32::MAX",
        a(i32::MAX, 1),
        Want::Err(Error::BadAddress),
    );
    let got = a(p(buf.as_mut_ptr()), buf.len() as i32);
    t.check("args: none", got, Want::Eq(0));

    let Ok((mine, theirs)) = Channel::create() else {
        t.check(
            "args: channel for probe",
            raw_error(Error::OutOfMemory),
            Want::Ok,
        );
        return;
    };
    match zb_sdk::spawn("hostile", &["probe", "abc"], &[theirs.into_grant()]) {
        Ok(pid) => {
            let status = sys::wait(i64::from(pid));
            t.check(
                "probe child (args and grants with data) passed",
                status,
                Want::Eq(0),
            );
        }
        Err(e) => {
            t.check("probe child spawned", raw_error(e), Want::Ok);
        }
    }
    drop(mine);
}

/// The `probe` child: started with arguments `probe abc` (10 bytes) and one granted channel
/// end, so `args` and `grants` have something to copy and must check the whole range.
fn probe(t: &mut Checks) {
    const ARGS: &[u8] = b"probe\0abc\0";
    // SAFETY: the pointers are outside our memory (nothing may be written) except for
    // `buf`/`out` with capacities within their lengths.
    let a = |ptr: i32, cap: i32| unsafe { sys::args(ptr, cap) };
    // SAFETY: as above.
    let g = |ptr: i32, cap: i32| unsafe { sys::grants(ptr, cap) };
    t.check(
        "probe: args past end of memory",
        a(end(), 16),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "probe: args across end of memory",
        a(end() - 4, 16),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "probe: args at i32::MAX",
        a(i32::MAX, 16),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "probe: args capacity i32::MAX",
        a(end() - 4, i32::MAX),
        Want::OneOf(TOO_BIG),
    );
    let mut buf = [0xEEu8; 16];
    let got = a(p(buf.as_mut_ptr()), 4);
    t.check("probe: args into 4 bytes", got, Want::Eq(ARGS.len() as i64));
    let only4 = buf[..4] == ARGS[..4] && buf[4..].iter().all(|&b| b == 0xEE);
    t.truth("probe: args copied 4 bytes only", only4);
    let got = a(p(buf.as_mut_ptr()), buf.len() as i32);
    t.check("probe: args in full", got, Want::Eq(ARGS.len() as i64));
    t.truth("probe: args content", buf.get(..ARGS.len()) == Some(ARGS));

    t.check(
        "probe: grants past end of memory",
        g(end(), 4),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "probe: grants across end of memory",
        g(end() - 2, 4),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "probe: grants capacity i32::MAX",
        g(end() - 2, i32::MAX),
        Want::OneOf(TOO_BIG),
    );
    let mut out = [u32::MAX; 2];
    t.check(
        "probe: grants count only",
        g(p(out.as_mut_ptr()), 0),
        Want::Eq(1),
    );
    t.truth("probe: grants wrote nothing", out == [u32::MAX; 2]);
    t.check("probe: grants", g(p(out.as_mut_ptr()), 2), Want::Eq(1));
    t.truth("probe: one handle written", out[1] == u32::MAX);
    let mut byte = [0u8; 1];
    let granted = Channel::from_handle(Handle::from_raw(out[0])).try_recv(&mut byte);
    t.check(
        "probe: the granted handle works",
        granted.map_or_else(raw_error, |n| n as i64),
        Want::Err(Error::WouldBlock),
    );
}

/// Waits for a child that should not exist, so that a failed check leaves no zombie.
fn reap(r: i64) {
    if r > 0 {
        let _ = sys::wait(r);
    }
}

fn spawn_raw(name: &[u8], args: &[u8], grants: &[u8], ngrants: i32) -> i64 {
    // SAFETY: `spawn` only reads, and every range is a live slice.
    unsafe {
        sys::spawn(
            p(name.as_ptr()),
            name.len() as i32,
            p(args.as_ptr()),
            args.len() as i32,
            p(grants.as_ptr()),
            ngrants,
        )
    }
}

fn spawn(t: &mut Checks) {
    // SAFETY: `spawn` only reads; out-of-memory ranges must be refused.
    let s = |n: i32, nl: i32, a: i32, al: i32, g: i32, ng: i32| unsafe {
        sys::spawn(n, nl, a, al, g, ng)
    };
    let hello = b"hello";
    let h = p(hello.as_ptr());
    let mut r;
    r = s(-1, 5, 0, 0, 0, 0);
    t.check(
        "spawn: negative name pointer",
        r,
        Want::Err(Error::InvalidArgument),
    );
    reap(r);
    r = s(h, -1, 0, 0, 0, 0);
    t.check(
        "spawn: negative name length",
        r,
        Want::Err(Error::InvalidArgument),
    );
    reap(r);
    r = s(end(), 4, 0, 0, 0, 0);
    t.check(
        "spawn: name past end of memory",
        r,
        Want::Err(Error::BadAddress),
    );
    reap(r);
    r = s(h, i32::MAX, 0, 0, 0, 0);
    t.check("spawn: name length i32::MAX", r, Want::Err(Error::TooLarge));
    reap(r);
    let long = [b'a'; MAX_NAME + 1];
    r = spawn_raw(&long, b"", b"", 0);
    t.check("spawn: name over MAX_NAME", r, Want::Err(Error::TooLarge));
    reap(r);
    r = spawn_raw(&long[..MAX_NAME], b"", b"", 0);
    t.check(
        "spawn: name of MAX_NAME, no such program",
        r,
        Want::Err(Error::NotFound),
    );
    reap(r);
    r = spawn_raw(b"no-such-program", b"", b"", 0);
    t.check("spawn: nonexistent program", r, Want::Err(Error::NotFound));
    reap(r);
    const BAD_NAME: &[Error] = &[Error::InvalidArgument, Error::NotFound];
    for (what, name) in [
        ("spawn: empty name", &b""[..]),
        ("spawn: name ../bin/hello", b"../bin/hello"),
        ("spawn: name /bin/hello", b"/bin/hello"),
        ("spawn: name with NUL", b"hel\0lo"),
        ("spawn: name not UTF-8", b"\xff\xfe"),
    ] {
        r = spawn_raw(name, b"", b"", 0);
        t.check(what, r, Want::OneOf(BAD_NAME));
        reap(r);
    }
    r = s(h, 5, -1, 4, 0, 0);
    t.check(
        "spawn: negative args pointer",
        r,
        Want::Err(Error::InvalidArgument),
    );
    reap(r);
    r = s(h, 5, 0, MAX_ARGS as i32 + 1, 0, 0);
    t.check("spawn: args over MAX_ARGS", r, Want::Err(Error::TooLarge));
    reap(r);
    r = s(h, 5, end(), 8, 0, 0);
    t.check(
        "spawn: args past end of memory",
        r,
        Want::Err(Error::BadAddress),
    );
    reap(r);
    r = s(h, 5, 0, 0, 0, -1);
    t.check(
        "spawn: negative grant count",
        r,
        Want::Err(Error::InvalidArgument),
    );
    reap(r);
    r = s(h, 5, 0, 0, 0, MAX_GRANTS as i32 + 1);
    t.check(
        "spawn: grants over MAX_GRANTS",
        r,
        Want::Err(Error::TooLarge),
    );
    reap(r);
    r = s(h, 5, 0, 0, end(), 1);
    t.check(
        "spawn: grants past end of memory",
        r,
        Want::Err(Error::BadAddress),
    );
    reap(r);

    let grant = |handle: u32, rights: Rights| {
        syscall::Grant {
            handle,
            rights: rights.bits(),
        }
        .to_bytes()
    };
    for (what, handle) in [
        ("spawn: grant of handle 0", 0u32),
        ("spawn: grant of handle 0xFFFFFFFF", u32::MAX),
    ] {
        r = spawn_raw(hello, b"", &grant(handle, Rights::empty()), 1);
        t.check(what, r, Want::Err(Error::BadHandle));
        reap(r);
    }
    let Ok((a, b)) = Channel::create() else {
        t.check(
            "spawn: channel for grant checks",
            raw_error(Error::OutOfMemory),
            Want::Ok,
        );
        return;
    };
    let stale = {
        let (x, y) = match Channel::create() {
            Ok(pair) => pair,
            Err(e) => {
                t.check("spawn: channel for grant checks", raw_error(e), Want::Ok);
                return;
            }
        };
        let h = x.handle().raw();
        drop((x, y));
        h
    };
    r = spawn_raw(hello, b"", &grant(stale, Rights::empty()), 1);
    t.check(
        "spawn: grant of a closed handle",
        r,
        Want::Err(Error::BadHandle),
    );
    reap(r);
    r = spawn_raw(hello, b"", &grant(b.handle().raw(), Rights::KILL), 1);
    t.check(
        "spawn: grant with rights the handle lacks",
        r,
        Want::Err(Error::PermissionDenied),
    );
    reap(r);
    let mut two = [0u8; 2 * GRANT_SIZE];
    two[..GRANT_SIZE].copy_from_slice(&grant(b.handle().raw(), Rights::empty()));
    two[GRANT_SIZE..].copy_from_slice(&grant(u32::MAX, Rights::empty()));
    r = spawn_raw(hello, b"", &two, 2);
    t.check(
        "spawn: good grant then bad grant",
        r,
        Want::Err(Error::BadHandle),
    );
    reap(r);
    let mut dup = [0u8; 2 * GRANT_SIZE];
    dup[..GRANT_SIZE].copy_from_slice(&grant(b.handle().raw(), Rights::empty()));
    dup[GRANT_SIZE..].copy_from_slice(&grant(b.handle().raw(), Rights::empty()));
    r = spawn_raw(hello, b"", &dup, 2);
    const DUP: &[Error] = &[Error::InvalidArgument, Error::BadHandle];
    t.check("spawn: the same handle granted twice", r, Want::OneOf(DUP));
    reap(r);
    r = spawn_raw(b"echo", b"no-final-nul", b"", 0);
    t.check(
        "spawn: args without the final NUL",
        r,
        Want::Err(Error::InvalidArgument),
    );
    reap(r);
    r = spawn_raw(b"no-such-program", b"", &two[..GRANT_SIZE], 1);
    t.check(
        "spawn: good grant, nonexistent program",
        r,
        Want::Err(Error::NotFound),
    );
    reap(r);
    let mut byte = [0u8; 1];
    t.check(
        "spawn: failed spawns moved no handle",
        b.try_recv(&mut byte).map_or_else(raw_error, |n| n as i64),
        Want::Err(Error::WouldBlock),
    );
    drop((a, b));

    // Real children: how they end is reported by `wait`.
    /// A child to start, and how it must end.
    struct Child {
        spawned: &'static str,
        ended: &'static str,
        name: &'static [u8],
        args: &'static [u8],
        status: (StatusKind, i32),
    }
    let children = [
        Child {
            spawned: "spawn: hello",
            ended: "wait: hello ends ok(0)",
            name: b"hello",
            args: b"",
            status: (StatusKind::Ok, 0),
        },
        Child {
            spawned: "spawn: trap",
            ended: "wait: trap ends panic",
            name: b"trap",
            args: b"",
            status: (StatusKind::Panic, 0),
        },
        Child {
            spawned: "spawn: exit 7",
            ended: "wait: exit 7 ends ok(7)",
            name: b"hostile",
            args: b"exit\x007\0",
            status: (StatusKind::Ok, 7),
        },
        Child {
            spawned: "spawn: exit -3",
            ended: "wait: exit -3 ends ok(-3)",
            name: b"hostile",
            args: b"exit\0-3\0",
            status: (StatusKind::Ok, -3),
        },
    ];
    for c in children {
        let pid = spawn_raw(c.name, c.args, b"", 0);
        if t.check(c.spawned, pid, Want::Ok) {
            let want = syscall::encode_status(c.status.0, c.status.1);
            t.check(c.ended, sys::wait(pid), Want::Eq(want));
        }
    }
    // A file that is not wasm: refused at spawn, or the child ends `invalid`.
    let pid = spawn_raw(b"notwasm", b"", b"", 0);
    if pid >= 0 {
        let status = sys::wait(pid);
        let want = syscall::encode_status(StatusKind::Invalid, 0);
        t.check("wait: notwasm ends invalid", status, Want::Eq(want));
    } else {
        t.check(
            "spawn: notwasm is refused",
            pid,
            Want::Err(Error::InvalidArgument),
        );
    }
}

fn wait(t: &mut Checks) {
    const NOT_CHILD: &[Error] = &[Error::NotFound, Error::InvalidArgument];
    t.check("wait: pid -1", sys::wait(-1), Want::OneOf(NOT_CHILD));
    t.check("wait: pid 0", sys::wait(0), Want::Err(Error::NotFound));
    t.check(
        "wait: own pid",
        sys::wait(sys::getpid()),
        Want::Err(Error::NotFound),
    );
    t.check(
        "wait: pid 1 (not a child)",
        sys::wait(1),
        Want::Err(Error::NotFound),
    );
    t.check(
        "wait: pid i64::MAX",
        sys::wait(i64::MAX),
        Want::OneOf(NOT_CHILD),
    );
    let pid = spawn_raw(b"hostile", b"exit\x000\0", b"", 0);
    if t.check("wait: spawn a child", pid, Want::Ok) {
        t.check("wait: the child", sys::wait(pid), Want::Eq(0));
        t.check(
            "wait: the child again (reaped)",
            sys::wait(pid),
            Want::Err(Error::NotFound),
        );
    }
}

fn grants(t: &mut Checks) {
    let mut out = [0u32; 4];
    // SAFETY: every pointer below is negative or outside our memory, except the last call's,
    // which is `out` with its own length.
    let g = |ptr: i32, cap: i32| unsafe { sys::grants(ptr, cap) };
    t.check(
        "grants: negative pointer",
        g(-1, 1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "grants: negative capacity",
        g(0, -1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "grants: pointer i32::MAX",
        g(i32::MAX, 1),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "grants: none granted",
        g(p(out.as_mut_ptr()), 4),
        Want::Eq(0),
    );
}

fn send(h: u32, msg: &[u8], handles: &[u32], flags: i32) -> i64 {
    // SAFETY: `send` only reads, and both ranges are live slices.
    unsafe {
        sys::send(
            h as i32,
            p(msg.as_ptr()),
            msg.len() as i32,
            p(handles.as_ptr()),
            handles.len() as i32,
            flags,
        )
    }
}

/// Receives into real buffers; returns the raw result.
fn recv(h: u32, buf: &mut [u8], handles: &mut [u32], flags: i32) -> i64 {
    // SAFETY: the kernel writes only into `buf` and `handles`, within their lengths.
    unsafe {
        sys::recv(
            h as i32,
            p(buf.as_mut_ptr()),
            buf.len() as i32,
            p(handles.as_mut_ptr()),
            handles.len() as i32,
            flags,
        )
    }
}

fn channels(t: &mut Checks) {
    // SAFETY: the pointers are negative or outside our memory; nothing may be written.
    let create = |out: i32| unsafe { sys::channel_create(out) };
    t.check(
        "channel_create: negative pointer",
        create(-1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "channel_create: past end of memory",
        create(end()),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "channel_create: 4 of 8 bytes inside",
        create(end() - 4),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "channel_create: pointer i32::MAX",
        create(i32::MAX),
        Want::Err(Error::BadAddress),
    );

    let (a, b) = match Channel::create() {
        Ok(pair) => pair,
        Err(e) => {
            t.check("channel_create", raw_error(e), Want::Ok);
            return;
        }
    };
    let (ha, hb) = (a.handle().raw(), b.handle().raw());
    t.truth("channel_create: two distinct handles", ha != hb);
    let msg = b"0123456789";
    let m = p(msg.as_ptr());
    // SAFETY: `send` only reads; out-of-memory ranges must be refused.
    let s = |h: i32, ptr: i32, len: i32, hp: i32, hn: i32| unsafe {
        sys::send(h, ptr, len, hp, hn, NONBLOCK)
    };
    let ha_i = ha as i32;
    t.check(
        "send: handle 0",
        s(0, m, 1, 0, 0),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "send: handle 0xFFFFFFFF",
        s(-1, m, 1, 0, 0),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "send: negative pointer",
        s(ha_i, -1, 1, 0, 0),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "send: negative length",
        s(ha_i, m, -1, 0, 0),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "send: past end of memory",
        s(ha_i, end(), 1, 0, 0),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "send: length i32::MAX",
        s(ha_i, 0, i32::MAX, 0, 0),
        Want::Err(Error::TooLarge),
    );
    t.check(
        "send: negative handles pointer",
        s(ha_i, m, 1, -1, 1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "send: negative handle count",
        s(ha_i, m, 1, 0, -1),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "send: handle count over MAX_GRANTS",
        s(ha_i, m, 1, 0, MAX_GRANTS as i32 + 1),
        Want::Err(Error::TooLarge),
    );
    t.check(
        "send: handles past end of memory",
        s(ha_i, m, 1, end(), 1),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "send: carrying handle 0xFFFFFFFF",
        send(ha, msg, &[u32::MAX], NONBLOCK),
        Want::Err(Error::BadHandle),
    );
    const SELF: &[Error] = &[
        Error::InvalidArgument,
        Error::BadHandle,
        Error::PermissionDenied,
    ];
    t.check(
        "send: carrying its own handle",
        send(ha, msg, &[ha], NONBLOCK),
        Want::OneOf(SELF),
    );
    let r = send(ha, msg, &[], 0x100);
    t.check(
        "send: unknown flag bits",
        r,
        Want::Err(Error::InvalidArgument),
    );

    // Receiving: buffers are checked even when nothing is queued (NONBLOCK: never waits).
    // SAFETY: the pointers are negative or outside our memory; nothing may be written.
    let r = |h: i32, ptr: i32, cap: i32, hp: i32, hn: i32| unsafe {
        sys::recv(h, ptr, cap, hp, hn, NONBLOCK)
    };
    let hb_i = hb as i32;
    t.check(
        "recv: handle 0",
        r(0, end(), 0, end(), 0),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "recv: negative pointer",
        r(hb_i, -1, 4, 0, 0),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "recv: negative capacity",
        r(hb_i, end(), -1, 0, 0),
        Want::Err(Error::InvalidArgument),
    );
    t.check(
        "recv: buffer past end of memory",
        r(hb_i, end(), 4, end(), 0),
        Want::Err(Error::BadAddress),
    );
    t.check(
        "recv: capacity i32::MAX",
        r(hb_i, 0, i32::MAX, end(), 0),
        Want::OneOf(TOO_BIG),
    );
    t.check(
        "recv: handles past end of memory",
        r(hb_i, end(), 0, end(), 1),
        Want::Err(Error::BadAddress),
    );
    let mut buf = [0u8; 16];
    let mut hs = [0u32; 2];
    t.check(
        "recv: nothing queued (NONBLOCK)",
        recv(hb, &mut buf, &mut hs, NONBLOCK),
        Want::Err(Error::WouldBlock),
    );

    // A message too big for the buffer stays queued.
    t.check("send: ten bytes", send(ha, msg, &[], 0), Want::Eq(0));
    t.check(
        "recv: 4-byte buffer for 10 bytes",
        recv(hb, &mut buf[..4], &mut hs, 0),
        Want::Err(Error::TooLarge),
    );
    t.check(
        "recv: the message is still there",
        recv(hb, &mut buf, &mut hs, 0),
        Want::Eq(syscall::recv_result(10, 0)),
    );
    t.truth("recv: contents intact", &buf[..10] == msg);

    // Filling the channel: NONBLOCK send pushes back with WouldBlock.
    let mut sent = 0;
    let full = loop {
        let v = send(ha, b"x", &[], NONBLOCK);
        if v < 0 || sent == 1000 {
            break v;
        }
        sent += 1;
    };
    t.check(
        "send: full channel (NONBLOCK)",
        full,
        Want::Err(Error::WouldBlock),
    );
    let mut drained = 0;
    while recv(hb, &mut buf, &mut hs, NONBLOCK) >= 0 {
        drained += 1;
    }
    t.truth(
        "recv: drained every queued message",
        sent > 0 && drained == sent,
    );

    // Handle transfer: an end of a second channel travels over the first.
    match Channel::create() {
        Ok((c, d)) => {
            let (hc, hd) = (c.handle().raw(), d.into_handle().raw());
            t.check(
                "send: carrying a handle",
                send(ha, b"h", &[hd], 0),
                Want::Eq(0),
            );
            t.check(
                "recv: no room for the handle",
                recv(hb, &mut buf, &mut [], 0),
                Want::Err(Error::TooLarge),
            );
            let got = recv(hb, &mut buf, &mut hs, 0);
            t.check(
                "recv: message with one handle",
                got,
                Want::Eq(syscall::recv_result(1, 1)),
            );
            let moved = Handle::from_raw(hs[0]);
            t.check(
                "send: on the sent end's peer",
                send(hc, b"via", &[], 0),
                Want::Eq(0),
            );
            let got = recv(moved.raw(), &mut buf, &mut [], 0);
            t.check(
                "recv: on the received handle",
                got,
                Want::Eq(syscall::recv_result(3, 0)),
            );
            if moved.raw() != hd {
                t.check(
                    "close: the handle that was sent away",
                    sys::close(hd as i32),
                    Want::Err(Error::BadHandle),
                );
            }
            t.check(
                "close: the received handle",
                sys::close(moved.raw() as i32),
                Want::Eq(0),
            );
            t.check(
                "send: peer closed",
                send(hc, b"x", &[], 0),
                Want::Err(Error::Closed),
            );
            t.check(
                "recv: peer closed (NONBLOCK)",
                recv(hc, &mut buf, &mut [], NONBLOCK),
                Want::Err(Error::Closed),
            );
            t.check(
                "recv: peer closed (blocking)",
                recv(hc, &mut buf, &mut [], 0),
                Want::Err(Error::Closed),
            );
            drop(c);
        }
        Err(e) => {
            t.check("channel_create (second)", raw_error(e), Want::Ok);
        }
    }

    // Stale handles.
    t.check(
        "close: channel end",
        a.into_handle().close().map_or_else(raw_error, |()| 0),
        Want::Eq(0),
    );
    t.check(
        "send: closed handle",
        send(ha, b"x", &[], NONBLOCK),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "recv: closed handle",
        recv(ha, &mut buf, &mut [], NONBLOCK),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "close: closed handle",
        sys::close(ha as i32),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "close: handle 0",
        sys::close(0),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "close: handle 0xFFFFFFFF",
        sys::close(-1),
        Want::Err(Error::BadHandle),
    );
    t.check(
        "send: to a closed peer",
        send(hb, b"x", &[], NONBLOCK),
        Want::Err(Error::Closed),
    );
    drop(b);
}
