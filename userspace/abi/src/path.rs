//! Path normalisation, joining, prefix tests and grant checks, without allocation.
//!
//! Job: give the kernel's scheme router, the VFS and the shell one definition of what a path
//! *means*, so that the grant check and the file system can never disagree about which file a
//! string names.
//!
//! Semantics (rooted, Unix-like, purely lexical — no symbolic links exist to consult):
//! - `/` separates components; empty components (`//`, a trailing `/`) are dropped;
//! - `.` is dropped;
//! - `..` removes the component before it, and at the root it is dropped: no sequence of `..`
//!   can go above `/` (`/a/../../b` names `/b`);
//! - every other component is kept byte for byte (no case folding, no Unicode normalisation,
//!   no decoding: `%` never reaches here, see [`crate::url`]).
//!
//! Invariants:
//! - [`components`] yields exactly the components of the normalised path: never empty, never
//!   `.` or `..`, never containing `/`.
//! - [`normalize`] and [`join`] write `/` or `/c1/c2/…/cn` (no trailing `/`) and fail rather
//!   than truncate; the result is a fixed point (`normalize(normalize(p)) == normalize(p)`).
//! - [`starts_with_prefix`] compares whole normalised components: `/data/app` is a prefix of
//!   `/data/app/x` and of `/data/app/`, never of `/data/apple`.
//! - [`grant_allows`] is the single place that decides whether a URL grant covers a request.

use core::fmt;

use crate::Error;
use crate::url::Url;

/// Why a path could not be normalised or joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// An absolute path (starting with `/`) was required.
    NotAbsolute,
    /// The result does not fit in the caller's buffer.
    TooLong,
}

impl PathError {
    /// The message a user sees, lower case, no trailing punctuation.
    pub const fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path is not absolute",
            PathError::TooLong => "path too long",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<PathError> for Error {
    fn from(e: PathError) -> Error {
        match e {
            PathError::NotAbsolute => Error::InvalidArgument,
            PathError::TooLong => Error::TooLarge,
        }
    }
}

/// The components of the normalised form of `path`, in order, computed lazily.
///
/// `path` is treated as rooted whether or not it starts with `/` (`a/b` gives `a`, `b`; a
/// leading `..` is dropped). To resolve a relative path against a directory use [`join`].
pub fn components(path: &str) -> Components<'_> {
    Components::new(path, true)
}

/// Iterator returned by [`components`].
///
/// Without `.` or `..` in the input it is a plain split; otherwise each kept component looks
/// ahead for a `..` that cancels it (bounded by the input length, so at most quadratic in the
/// number of components of one path).
#[derive(Debug, Clone)]
pub struct Components<'a> {
    rest: &'a str,
    has_dots: bool,
    /// Rooted: a `..` with nothing to cancel is dropped. Otherwise it is yielded (only ever
    /// as a leading component), which is how [`join`] lets a relative path climb the cwd.
    rooted: bool,
}

impl<'a> Components<'a> {
    fn new(path: &'a str, rooted: bool) -> Self {
        let has_dots = path.split('/').any(|s| s == "." || s == "..");
        Components {
            rest: path,
            has_dots,
            rooted,
        }
    }

    /// The next raw (unnormalised) non-empty segment, advancing `rest` past it.
    fn next_raw(rest: &mut &'a str) -> Option<&'a str> {
        loop {
            if rest.is_empty() {
                return None;
            }
            let (seg, tail) = rest.split_once('/').unwrap_or((rest, ""));
            *rest = tail;
            if !seg.is_empty() {
                return Some(seg);
            }
        }
    }
}

impl<'a> Iterator for Components<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let seg = Self::next_raw(&mut self.rest)?;
            if !self.has_dots {
                return Some(seg);
            }
            match seg {
                "." => continue,
                // Nothing before it is left to cancel (see the lookahead below).
                ".." if self.rooted => continue,
                ".." => return Some(seg),
                _ => {}
            }
            // Does a later `..` cancel `seg`? Walk forward keeping the depth below `seg`.
            let mut ahead = self.rest;
            let mut depth = 0usize;
            let mut cancelled = false;
            while let Some(next) = Self::next_raw(&mut ahead) {
                match next {
                    "." => {}
                    ".." if depth == 0 => {
                        cancelled = true;
                        break;
                    }
                    ".." => depth -= 1,
                    _ => depth += 1,
                }
            }
            if !cancelled {
                return Some(seg);
            }
            // `seg`, everything up to its cancelling `..` and that `..` vanish together.
            self.rest = ahead;
        }
    }
}

/// Writes `/c1/…/cn` (or `/`) into a caller buffer, failing instead of truncating.
struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    fn push(&mut self, comp: &str) -> Result<(), PathError> {
        let end = self.len + 1 + comp.len();
        if end > self.buf.len() {
            return Err(PathError::TooLong);
        }
        self.buf[self.len] = b'/';
        self.buf[self.len + 1..end].copy_from_slice(comp.as_bytes());
        self.len = end;
        Ok(())
    }

    fn finish(self) -> Result<&'b str, PathError> {
        let Writer { buf, mut len } = self;
        if len == 0 {
            *buf.first_mut().ok_or(PathError::TooLong)? = b'/';
            len = 1;
        }
        // Only whole `&str` components and ASCII '/' were written, so this cannot fail.
        core::str::from_utf8(&buf[..len]).map_err(|_| PathError::TooLong)
    }
}

/// Normalises the absolute path `path` into `buf` and returns the written text.
///
/// `buf` never needs to be longer than `path` (or 1 byte for an empty result).
pub fn normalize<'b>(path: &str, buf: &'b mut [u8]) -> Result<&'b str, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut w = Writer::new(buf);
    for c in components(path) {
        w.push(c)?;
    }
    w.finish()
}

/// Whether `path` is already in normal form (`/` or `/c1/…/cn`, no empty, `.` or `..`
/// component, no trailing `/`): then [`normalize`] would copy it unchanged, so a caller can
/// skip the copy. One pass, no allocation.
pub fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    if b.len() == 1 {
        return true;
    }
    // `b[start..i]` is the component being read.
    let mut start = 1;
    for i in 1..=b.len() {
        if i == b.len() || b[i] == b'/' {
            if matches!(&b[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// Resolves `path` against the working directory `cwd` and normalises the result into `buf`.
///
/// An absolute `path` ignores `cwd` (but `cwd` must still be absolute); an empty `path` names
/// `cwd`. `..` in a relative `path` climbs `cwd` and stops at the root.
pub fn join<'b>(cwd: &str, path: &str, buf: &'b mut [u8]) -> Result<&'b str, PathError> {
    if !cwd.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.starts_with('/') {
        return normalize(path, buf);
    }
    let mut w = Writer::new(buf);
    // The relative part's leading `..`s drop that many components from the end of the
    // normalised cwd, then its kept components follow: nothing written is ever removed, so
    // the buffer only needs to hold the result.
    let mut rel = Components::new(path, false).peekable();
    let mut climb = 0usize;
    while rel.next_if_eq(&"..").is_some() {
        climb += 1;
    }
    let keep = components(cwd).count().saturating_sub(climb);
    for c in components(cwd).take(keep) {
        w.push(c)?;
    }
    for c in rel {
        w.push(c)?;
    }
    w.finish()
}

/// Whether `prefix` names `path` or a directory above it, comparing whole normalised
/// components (`/data/app` covers `/data/app` and `/data/app/x`, not `/data/apple`; `/` covers
/// everything). Both are treated as rooted.
pub fn starts_with_prefix(path: &str, prefix: &str) -> bool {
    let mut p = components(path);
    components(prefix).all(|c| p.next() == Some(c))
}

/// Whether the grant `grant` (as in `run --allow file:///data/app`) allows opening `requested`.
///
/// Allowed iff the schemes are equal, the authorities are equal (host byte for byte — no case
/// folding, since e.g. bus subjects are case-sensitive — and the same port or both none), the
/// grant's path is a component prefix of the requested path after normalisation, and, if the
/// grant has a query, the request has exactly that query (a grant without a query allows any).
/// A bus grant (`bus://publish/orders.>`) allows a bus request of the same right whose pattern
/// it covers (`bus://publish/orders.new`).
pub fn grant_allows(grant: &Url<'_>, requested: &Url<'_>) -> bool {
    // Bus grants, `bus://<right>/<pattern>`: the right is the authority, and the path is a
    // NATS pattern, compared as patterns (`crate::bus::pattern_covers`) rather than paths.
    if grant.scheme() == "bus" {
        let granted = grant.path().strip_prefix('/').unwrap_or("");
        let asked = requested.path().strip_prefix('/').unwrap_or("");
        return requested.scheme() == "bus"
            && grant.host() == requested.host()
            && grant.port().is_none()
            && requested.port().is_none()
            && grant.query().is_none()
            && !granted.is_empty()
            && crate::bus::pattern_covers(granted, asked);
    }
    grant.scheme() == requested.scheme()
        && grant.host() == requested.host()
        && grant.port() == requested.port()
        && starts_with_prefix(requested.path(), grant.path())
        && grant.query().is_none_or(|q| requested.query() == Some(q))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn comps(p: &str) -> Vec<&str> {
        components(p).collect()
    }

    fn norm(p: &str) -> String {
        let mut buf = [0u8; 2048];
        normalize(p, &mut buf).unwrap().to_string()
    }

    fn joined(cwd: &str, p: &str) -> String {
        let mut buf = [0u8; 2048];
        join(cwd, p, &mut buf).unwrap().to_string()
    }

    /// A straightforward stack-based model of the semantics, to check the lazy iterator.
    fn model(p: &str) -> String {
        let mut stack: Vec<&str> = Vec::new();
        for s in p.split('/') {
            match s {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                s => stack.push(s),
            }
        }
        if stack.is_empty() {
            "/".into()
        } else {
            stack.iter().map(|s| format!("/{s}")).collect()
        }
    }

    #[test]
    fn bus_grants_compare_rights_and_patterns() {
        let allows =
            |g: &str, r: &str| grant_allows(&Url::parse(g).unwrap(), &Url::parse(r).unwrap());
        assert!(allows("bus://publish/orders.>", "bus://publish/orders.new"));
        assert!(allows(
            "bus://subscribe/orders.>",
            "bus://subscribe/orders.*"
        ));
        assert!(!allows("bus://subscribe/orders.>", "bus://subscribe/>"));
        assert!(!allows(
            "bus://publish/orders.>",
            "bus://subscribe/orders.new"
        ));
        assert!(!allows(
            "bus://publish/orders.>",
            "bus://publish/payments.new"
        ));
        assert!(
            !allows("bus://publish", "bus://publish/orders.new"),
            "no pattern, no right"
        );
        assert!(allows(
            "bus://scan/ledger.balances",
            "bus://scan/ledger.balances"
        ));
        assert!(!allows(
            "bus://scan/ledger.balances",
            "bus://seal/ledger.balances"
        ));
        assert!(!allows("bus://publish/orders.>", "file:///orders.new"));
        assert!(!allows("file:///data", "bus://publish/data"));
    }

    #[test]
    fn normalises() {
        let cases = [
            ("/", "/"),
            ("//", "/"),
            ("///", "/"),
            ("/.", "/"),
            ("/..", "/"),
            ("/../..", "/"),
            ("/./../.", "/"),
            ("/etc/motd", "/etc/motd"),
            ("/etc//motd", "/etc/motd"),
            ("//etc///motd//", "/etc/motd"),
            ("/etc/./motd/.", "/etc/motd"),
            ("/etc/motd/", "/etc/motd"),
            ("/a/../../b", "/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/../../c", "/c"),
            ("/a/b/c/../../../../../d", "/d"),
            ("/../../../etc/passwd", "/etc/passwd"),
            ("/a/./b/./../c/./d/..", "/a/c"),
            ("/a/b/c/d/../../x/../../y", "/a/y"),
            ("/...", "/..."),
            ("/a/.../..", "/a"),
            ("/..a/a..", "/..a/a.."),
            ("/.hidden/./.x", "/.hidden/.x"),
            ("/日本/../ü", "/ü"),
            ("/a b/ c ", "/a b/ c "),
            ("/%2e%2e/x", "/%2e%2e/x"),
            ("/a\\..\\b", "/a\\..\\b"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "{input:?}");
            assert_eq!(model(input), want, "model of {input:?}");
            assert_eq!(norm(&norm(input)), want, "fixed point of {input:?}");
            assert_eq!(is_normal(input), input == want, "is_normal({input:?})");
            assert!(is_normal(want), "is_normal({want:?})");
        }
        assert!(!is_normal("etc/motd"), "a relative path is not normal");
        assert!(!is_normal(""), "the empty path is not normal");
    }

    #[test]
    fn iterator_matches_the_stack_model_exhaustively() {
        // Every path of up to 6 segments over a small alphabet, including the tricky ones.
        let alphabet = ["", ".", "..", "a", "b"];
        let mut idx = [0usize; 6];
        for len in 0..=6 {
            let total = alphabet.len().pow(len as u32);
            for n in 0..total {
                let mut k = n;
                for slot in idx.iter_mut().take(len) {
                    *slot = k % alphabet.len();
                    k /= alphabet.len();
                }
                let mut p = String::new();
                for &i in &idx[..len] {
                    p.push('/');
                    p.push_str(alphabet[i]);
                }
                if p.is_empty() {
                    p.push('/');
                }
                assert_eq!(norm(&p), model(&p), "{p:?}");
                assert_eq!(is_normal(&p), norm(&p) == p, "is_normal({p:?})");
                for c in comps(&p) {
                    assert!(!c.is_empty() && c != "." && c != ".." && !c.contains('/'));
                }
            }
        }
    }

    #[test]
    fn components_are_rooted() {
        assert_eq!(comps("a/b"), ["a", "b"]);
        assert_eq!(comps("../a"), ["a"]);
        assert_eq!(comps(""), Vec::<&str>::new());
        assert_eq!(comps("/x/y/"), ["x", "y"]);
    }

    #[test]
    fn normalize_rejects_relative_and_small_buffers() {
        let mut buf = [0u8; 64];
        for p in ["", "a", "./a", "../a", "a/b"] {
            assert_eq!(normalize(p, &mut buf), Err(PathError::NotAbsolute), "{p:?}");
        }
        let mut tiny = [0u8; 4];
        assert_eq!(normalize("/abcd", &mut tiny), Err(PathError::TooLong));
        assert_eq!(normalize("/abc", &mut tiny), Ok("/abc"));
        // An input that only shrinks fits a buffer of the result's size.
        assert_eq!(normalize("/abc/../../xyz/", &mut tiny), Ok("/xyz"));
        assert_eq!(normalize("/aaaaaaaaaaaa/..", &mut tiny[..1]), Ok("/"));
        assert_eq!(normalize("/", &mut []), Err(PathError::TooLong));
    }

    #[test]
    fn buffer_never_needs_more_than_input() {
        for p in ["/", "//a//b//", "/a/../b/./c", "/x/y/z/../../.."] {
            let mut buf = std::vec![0u8; p.len()];
            assert_eq!(normalize(p, &mut buf).unwrap(), model(p));
        }
    }

    #[test]
    fn huge_paths() {
        let deep = "/a".repeat(10_000);
        let up = "/..".repeat(10_001);
        let p = format!("{deep}{up}/etc");
        let mut buf = [0u8; 16];
        assert_eq!(normalize(&p, &mut buf), Ok("/etc"));
        let p = format!("{deep}{}", "/..".repeat(9_999));
        assert_eq!(normalize(&p, &mut buf), Ok("/a"));
        let p = format!("{}/x", "/..".repeat(100_000));
        assert_eq!(normalize(&p, &mut buf), Ok("/x"));
    }

    #[test]
    fn joins() {
        let cases = [
            ("/", "", "/"),
            ("/", ".", "/"),
            ("/", "..", "/"),
            ("/", "a", "/a"),
            ("/data", "note.txt", "/data/note.txt"),
            ("/data/", "./note.txt", "/data/note.txt"),
            ("/data", "..", "/"),
            ("/data", "../..", "/"),
            ("/data", "../etc/motd", "/etc/motd"),
            ("/data/app", "../../../../etc", "/etc"),
            ("/data/app", "x/../../y", "/data/y"),
            ("/data/app", "x/../y/..", "/data/app"),
            ("/data/app", "/etc/motd", "/etc/motd"),
            ("/data/app", "//etc/../bin", "/bin"),
            ("/a/./b/../c", "d", "/a/c/d"),
            ("/a/b/c", "../../..", "/"),
            ("/a/b/c", "../x/../../y", "/a/y"),
            ("/a", "b//c/", "/a/b/c"),
        ];
        for (cwd, p, want) in cases {
            assert_eq!(joined(cwd, p), want, "{cwd:?} + {p:?}");
            let concat = format!("{cwd}/{p}");
            if !p.starts_with('/') {
                assert_eq!(model(&concat), want, "model of {cwd:?} + {p:?}");
            }
        }
        let mut buf = [0u8; 64];
        assert_eq!(join("data", "x", &mut buf), Err(PathError::NotAbsolute));
        assert_eq!(join("", "/x", &mut buf), Err(PathError::NotAbsolute));
        let mut small = [0u8; 8];
        assert_eq!(
            join("/data", "note.txt", &mut small),
            Err(PathError::TooLong)
        );
        assert_eq!(join("/longdirectoryname", "../ab", &mut small), Ok("/ab"));
    }

    #[test]
    fn prefixes_compare_whole_components() {
        let yes = [
            ("/data/app", "/data/app"),
            ("/data/app/", "/data/app"),
            ("/data/app/x", "/data/app"),
            ("/data/app/x/y", "/data/app/"),
            ("/data//app/./x", "/data/app"),
            ("/data/app/x", "//data//app//"),
            ("/anything", "/"),
            ("/", "/"),
            ("/", ""),
            ("/data/app/x/../y", "/data/app"),
        ];
        for (p, pre) in yes {
            assert!(starts_with_prefix(p, pre), "{pre:?} should cover {p:?}");
        }
        let no = [
            ("/data/apple", "/data/app"),
            ("/data/ap", "/data/app"),
            ("/data", "/data/app"),
            ("/", "/data"),
            ("/data/app/../secret", "/data/app"),
            ("/data/app/../../etc/motd", "/data/app"),
            ("/Data/app", "/data/app"),
            ("/data/app", "/data/app/x"),
            ("/data/app.d", "/data/app"),
            ("/dataapp", "/data"),
        ];
        for (p, pre) in no {
            assert!(!starts_with_prefix(p, pre), "{pre:?} must not cover {p:?}");
        }
    }

    fn allows(grant: &str, req: &str) -> bool {
        grant_allows(&Url::parse(grant).unwrap(), &Url::parse(req).unwrap())
    }

    #[test]
    fn grants() {
        let g = "file:///data/app";
        assert!(allows(g, "/data/app"));
        assert!(allows(g, "/data/app/"));
        assert!(allows(g, "/data/app/prog.wasm"));
        assert!(allows(g, "file:///data/app/sub/x?append"));
        assert!(allows(g, "/data/app/./x/../y"));
        assert!(!allows(g, "/data/apple"));
        assert!(!allows(g, "/data"));
        assert!(!allows(g, "/data/app/../secret"));
        assert!(!allows(g, "/data/app/../../etc/motd"));
        assert!(!allows(g, "/etc/motd"));
        assert!(!allows(g, "file://other/data/app/x"));
        assert!(!allows(g, "proc:///data/app"));
        assert!(allows("file:///data/app/", "/data/app/x"));
        assert!(allows("file:///", "/etc/motd"));
        assert!(allows("file://", "/etc/motd"));

        assert!(allows("proc://self", "proc://self/status"));
        assert!(allows("proc://3/status", "proc://3/status"));
        assert!(!allows("proc://3/status", "proc://3/maps"));
        assert!(!allows("proc://3", "proc://4/status"));
        assert!(!allows("proc://3", "proc://33/status"));
        assert!(!allows("mem://heap", "mem://heapx"));
        assert!(!allows("bus://sensors", "bus://SENSORS"));

        assert!(allows("tcp://10.0.2.2:4222", "tcp://10.0.2.2:4222"));
        assert!(!allows("tcp://10.0.2.2:4222", "tcp://10.0.2.2:4223"));
        assert!(!allows("tcp://10.0.2.2:4222", "tcp://10.0.2.2"));
        assert!(!allows("tcp://10.0.2.2", "tcp://10.0.2.2:4222"));
        assert!(!allows("tcp://10.0.2.2:4222", "tcp://10.0.2.22:4222"));

        // A grant with a query allows only that query; one without allows any.
        assert!(allows("tcp://:4222?listen", "tcp://:4222?listen"));
        assert!(!allows("tcp://:4222?listen", "tcp://:4222"));
        assert!(!allows("tcp://:4222?listen", "tcp://:4222?listenx"));
        assert!(allows("tcp://:4222", "tcp://:4222?listen"));
    }

    #[test]
    fn errors_map_and_display() {
        assert_eq!(Error::from(PathError::NotAbsolute), Error::InvalidArgument);
        assert_eq!(Error::from(PathError::TooLong), Error::TooLarge);
        for e in [PathError::NotAbsolute, PathError::TooLong] {
            let m = e.to_string();
            assert!(!m.is_empty() && !m.ends_with('.') && m == m.to_lowercase());
        }
    }
}
