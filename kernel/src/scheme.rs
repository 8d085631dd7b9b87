//! The scheme router and the registry of kinds.
//!
//! [`SchemeRouter`] maps a URL's scheme to its handler: `proc` and `mem` to handlers inside
//! the kernel ([`KernelScheme`]), every other scheme to the service that registered it
//! (`file` → vfs, `console` → console). [`Target::resolve`] turns the URL a client passed into
//! the scheme's index and the *handler path* the handler receives: for `file` the normalised
//! absolute path (so `..` is gone before any service sees it); for other schemes the text after
//! `scheme://`.
//!
//! [`Registry`] lists every driver, service and scheme under its KindId, for `kinds`.
//!
//! Invariants: a scheme has at most one route, and routes are never removed (a scheme index
//! kept in a handle stays valid); there are at most [`MAX_SCHEMES`] routes and [`MAX_KINDS`]
//! registry entries (fixed-capacity tables); handler paths are at most [`MAX_PATH`] bytes.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::kind::{KindId, KindInfo, kinds};
use zb_abi::scheme::MAX_PATH;
use zb_abi::url::Url;
use zb_abi::{Error, Pid, path};

/// A scheme's index in the router.
pub type SchemeIndex = u16;

/// Most schemes the router knows (the kernel's two and the services').
pub const MAX_SCHEMES: usize = 16;
/// Most entries in the registry of kinds (drivers, services, schemes, reducers).
pub const MAX_KINDS: usize = 64;

/// The schemes the kernel serves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelScheme {
    /// `proc://<pid>/status`, `proc://self/status`: runs.
    Proc,
    /// `mem://heap`, `mem://frames`: memory.
    Mem,
}

/// Where a scheme's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Kernel(KernelScheme),
    Service(Pid),
}

pub struct SchemeRouter {
    routes: heapless::Vec<(&'static str, Route), MAX_SCHEMES>,
}

impl Default for SchemeRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemeRouter {
    /// A router with the kernel's own schemes.
    pub fn new() -> Self {
        let mut routes = heapless::Vec::new();
        // Cannot fail: two entries in an empty table of MAX_SCHEMES.
        let _ = routes.push(("proc", Route::Kernel(KernelScheme::Proc)));
        let _ = routes.push(("mem", Route::Kernel(KernelScheme::Mem)));
        SchemeRouter { routes }
    }

    /// Routes `scheme` to service `pid`; `AlreadyExists` if it has a handler, `NoSpace` if
    /// the router is full.
    pub fn register(&mut self, scheme: &'static str, pid: Pid) -> Result<SchemeIndex, Error> {
        if self.index(scheme).is_some() {
            return Err(Error::AlreadyExists);
        }
        let valid = scheme.len() <= zb_abi::url::MAX_SCHEME_LEN
            && scheme.starts_with(|c: char| c.is_ascii_lowercase())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
        if !valid {
            return Err(Error::InvalidArgument);
        }
        self.routes
            .push((scheme, Route::Service(pid)))
            .map_err(|_| Error::NoSpace)?;
        Ok((self.routes.len() - 1) as SchemeIndex)
    }

    pub fn index(&self, scheme: &str) -> Option<SchemeIndex> {
        self.routes
            .iter()
            .position(|(s, _)| *s == scheme)
            .map(|i| i as SchemeIndex)
    }

    pub fn route(&self, index: SchemeIndex) -> Option<Route> {
        self.routes.get(usize::from(index)).map(|&(_, r)| r)
    }

    pub fn name(&self, index: SchemeIndex) -> &'static str {
        self.routes.get(usize::from(index)).map_or("?", |&(s, _)| s)
    }

    /// Every route, for the registry view.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Route)> + '_ {
        self.routes.iter().copied()
    }
}

/// A URL resolved against the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: SchemeIndex,
    /// What the handler is asked for (see the module doc).
    pub path: String,
    /// Whether this is a `file://` URL (whose path was normalised).
    file: bool,
}

impl Target {
    /// Parses and resolves `url`. `InvalidArgument` for a malformed URL, `NotFound` for a
    /// scheme nobody serves.
    pub fn resolve(router: &SchemeRouter, url: &str) -> Result<Target, Error> {
        let parsed = Url::parse(url)?;
        let scheme = router.index(parsed.scheme()).ok_or(Error::NotFound)?;
        let path = if parsed.scheme() == "file" {
            if parsed.authority().is_some() || parsed.query().is_some() {
                return Err(Error::InvalidArgument);
            }
            normal_path(&parsed)?
        } else {
            // Everything after `scheme://`.
            let text = url.split_once("://").map_or("", |(_, rest)| rest);
            String::from(text)
        };
        if path.len() > MAX_PATH {
            return Err(Error::TooLarge);
        }
        Ok(Target {
            scheme,
            path,
            file: parsed.scheme() == "file",
        })
    }

    /// The URL this target was resolved from, in canonical form (`file:///data/x` for
    /// `/data/../data/x`), for grant checks and logs. Built only when asked for: an
    /// unrestricted run's call never needs it.
    pub fn canonical<'u>(&self, url: &'u str) -> Cow<'u, str> {
        if self.file {
            let mut c = String::with_capacity(FILE_PREFIX.len() + self.path.len());
            c.push_str(FILE_PREFIX);
            c.push_str(&self.path);
            Cow::Owned(c)
        } else {
            Cow::Borrowed(url)
        }
    }
}

/// What a canonical `file://` URL starts with.
const FILE_PREFIX: &str = "file://";

/// A `file://` URL's path, normalised (`..` resolved, never above `/`; empty means `/`): the
/// form both requests and grants are compared in.
fn normal_path(url: &Url<'_>) -> Result<String, Error> {
    let raw = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    if path::is_normal(raw) {
        return Ok(String::from(raw));
    }
    let mut buf = [0u8; MAX_PATH];
    let normal = path::normalize(raw, &mut buf).map_err(|_| Error::InvalidArgument)?;
    Ok(String::from(normal))
}

/// Whether a run holding URL grants `allow` (`None`: unrestricted) may reach `canonical`.
pub fn allowed(allow: Option<&[String]>, canonical: &str) -> bool {
    let Some(grants) = allow else {
        return true;
    };
    let Ok(requested) = Url::parse(canonical) else {
        return false;
    };
    grants
        .iter()
        .filter_map(|g| Url::parse(g).ok())
        .any(|g| path::grant_allows(&g, &requested))
}

/// Checks grants a client asks a child to get: each must parse as a URL and, if the client is
/// restricted itself, be within one of its own grants (a grant can only narrow).
pub fn narrowed(parent: Option<&[String]>, wanted: &[&str]) -> Result<Vec<String>, Error> {
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let url = Url::parse(w)?;
        // Canonical form: `file://` grants are normalised like the paths they are checked with.
        let canonical = if url.scheme() == "file" {
            alloc::format!("{FILE_PREFIX}{}", normal_path(&url)?)
        } else {
            String::from(*w)
        };
        if !allowed(parent, &canonical) {
            return Err(Error::PermissionDenied);
        }
        out.push(canonical);
    }
    Ok(out)
}

/// The registry of kinds.
#[derive(Default)]
pub struct Registry {
    entries: heapless::Vec<(KindId, &'static str, Pid), MAX_KINDS>,
}

impl Registry {
    /// A registry holding the kernel's own schemes.
    pub fn new() -> Self {
        let mut r = Registry::default();
        r.add(kinds::SCHEME_PROC, "proc", 0);
        r.add(kinds::SCHEME_MEM, "mem", 0);
        r
    }

    /// Adds (or renames) an entry; an entry past [`MAX_KINDS`] is left out (the registry is
    /// what `kinds` lists; nothing depends on it being complete).
    pub fn add(&mut self, id: KindId, name: &'static str, provider: Pid) {
        match self.entries.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.entries[i] = (id, name, provider),
            Err(i) => {
                let _ = self.entries.insert(i, (id, name, provider));
            }
        }
    }

    pub fn visit(&self, visit: &mut dyn FnMut(&KindInfo<'_>)) {
        for &(id, name, provider) in &self.entries {
            visit(&KindInfo { id, name, provider });
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::ToString;

    fn router() -> SchemeRouter {
        let mut r = SchemeRouter::new();
        r.register("file", 2).unwrap();
        r.register("console", 1).unwrap();
        r
    }

    #[test]
    fn routes_by_scheme() {
        let mut r = router();
        assert_eq!(r.register("file", 3), Err(Error::AlreadyExists));
        assert_eq!(r.register("no://", 3), Err(Error::InvalidArgument));
        let t = Target::resolve(&r, "/data/../etc/./motd").unwrap();
        assert_eq!(r.route(t.scheme), Some(Route::Service(2)));
        assert_eq!(t.path, "/etc/motd");
        assert_eq!(t.canonical("/data/../etc/./motd"), "file:///etc/motd");
        let t = Target::resolve(&r, "file:///../../..").unwrap();
        assert_eq!(t.path, "/");
        let t = Target::resolve(&r, "proc://self/status").unwrap();
        assert_eq!(r.route(t.scheme), Some(Route::Kernel(KernelScheme::Proc)));
        assert_eq!(t.path, "self/status");
        let t = Target::resolve(&r, "mem://heap").unwrap();
        assert_eq!(t.path, "heap");
        assert_eq!(r.name(t.scheme), "mem");
    }

    #[test]
    fn bad_urls_are_clear_errors() {
        let r = router();
        for bad in [
            "",
            "relative",
            "FILE:///x",
            "file://host/x",
            "/a%2e",
            "/a#b",
        ] {
            assert_eq!(
                Target::resolve(&r, bad),
                Err(Error::InvalidArgument),
                "{bad}"
            );
        }
        assert_eq!(Target::resolve(&r, "tcp://1.2.3.4:5"), Err(Error::NotFound));
        let long = "/".to_string() + &"a".repeat(2000);
        assert!(Target::resolve(&r, &long).is_err());
    }

    #[test]
    fn grants_narrow_and_allow_by_prefix() {
        let app = narrowed(None, &["file:///data/app/", "proc://self"]).unwrap();
        assert_eq!(app[0], "file:///data/app");
        let app = Some(&app[..]);
        assert!(allowed(app, "file:///data/app"));
        assert!(allowed(app, "file:///data/app/x/y"));
        assert!(!allowed(app, "file:///data/apple"));
        assert!(!allowed(app, "file:///etc/motd"));
        assert!(allowed(None, "file:///etc/motd"));
        assert_eq!(
            narrowed(app, &["file:///data"]),
            Err(Error::PermissionDenied)
        );
        assert!(narrowed(app, &["file:///data/app/sub"]).is_ok());
        assert_eq!(narrowed(None, &["not a url"]), Err(Error::InvalidArgument));
        assert_eq!(
            narrowed(app, &["file:///data/app/../../etc"]),
            Err(Error::PermissionDenied)
        );
    }

    #[test]
    fn registry_is_sorted_by_kind() {
        let mut reg = Registry::new();
        reg.add(kinds::VFS, "vfs", 2);
        reg.add(kinds::VIRTIO_BLK, "virtio-blk", 0);
        let mut seen = Vec::new();
        reg.visit(&mut |k| seen.push(k.id));
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(reg.len(), 4);
    }
}
