//! Fuzz target `url_path`: resource URLs (`zb_abi::url`) and path normalisation, joining and
//! grant checks (`zb_abi::path`) — what a run passes to `open` and `run --allow`.
//!
//! The input is UTF-8 text: its first line is used as a grant and a working directory, the
//! rest as a request and a relative path. Beyond "never panics" it asserts:
//! - every parsed URL keeps the invariants of the module docs (length, characters, scheme,
//!   authority and port, path), its canonical form (`Display`) is the input itself for the
//!   `scheme://` form and parses back to the same URL;
//! - `normalize` agrees with a stack model of `.`/`..`, never needs a buffer longer than its
//!   input, and is a fixed point; `components` yields exactly its components;
//! - `join(cwd, rel)` is the normalisation of `cwd/rel`;
//! - a grant allows itself, and `grant_allows` agrees with comparing normalised components.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_abi::path::{self, PathError};
use zb_abi::url::{FILE_SCHEME, MAX_SCHEME_LEN, MAX_URL_LEN, Url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    for s in [text, first, rest] {
        check_url(s);
        check_path(s);
    }
    check_join(first, rest);
    if let (Ok(grant), Ok(request)) = (Url::parse(first), Url::parse(rest)) {
        check_grant(&grant, &request);
    }
});

fn check_url(s: &str) {
    let Ok(u) = Url::parse(s) else {
        return;
    };
    assert!(!s.is_empty() && s.len() <= MAX_URL_LEN);
    assert!(!s.chars().any(|c| c.is_control() || c == '%' || c == '#'));
    let scheme = u.scheme().as_bytes();
    assert!(!scheme.is_empty() && scheme.len() <= MAX_SCHEME_LEN);
    assert!(scheme[0].is_ascii_lowercase());
    assert!(
        scheme
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
    );
    match u.authority() {
        None => assert!(u.host().is_empty() && u.port().is_none()),
        Some(a) => {
            assert!(!a.is_empty() && !a.contains(['/', '?', '@']));
            match u.port() {
                None => assert_eq!(a, u.host()),
                Some(p) => {
                    assert!(p >= 1);
                    assert_eq!(a, format!("{}:{p}", u.host()));
                }
            }
        }
    }
    assert!(u.path().is_empty() || u.path().starts_with('/'));
    assert!(!u.path().contains('?'));
    let canonical = u.to_string();
    if s.starts_with('/') {
        assert_eq!(u.scheme(), FILE_SCHEME);
        assert_eq!(canonical, format!("file://{s}"));
    } else {
        assert_eq!(canonical, s, "the scheme:// form displays as written");
    }
    // The module's promise: `parse(u.to_string()) == u` for every parsed `u`.
    match Url::parse(&canonical) {
        Ok(again) => assert_eq!(again, u, "{canonical:?} reparses differently"),
        Err(e) => panic!("the canonical form {canonical:?} of {s:?} does not parse: {e}"),
    }
}

/// The path semantics spelled out: a stack of components.
fn model(p: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            c => stack.push(c),
        }
    }
    if stack.is_empty() {
        "/".into()
    } else {
        stack.iter().map(|c| format!("/{c}")).collect()
    }
}

fn check_path(p: &str) {
    let comps: Vec<&str> = path::components(p).collect();
    for c in &comps {
        assert!(!c.is_empty() && *c != "." && *c != ".." && !c.contains('/'));
    }
    let want = model(p);
    let joined: String = if comps.is_empty() {
        "/".into()
    } else {
        comps.iter().map(|c| format!("/{c}")).collect()
    };
    assert_eq!(joined, want, "components of {p:?}");
    // "`buf` never needs to be longer than `path` (or 1 byte for an empty result)".
    let mut buf = vec![0u8; p.len().max(1)];
    match path::normalize(p, &mut buf) {
        Ok(n) => {
            assert!(p.starts_with('/'));
            assert_eq!(n, want);
            let n = n.to_string();
            let mut again = vec![0u8; n.len()];
            assert_eq!(
                path::normalize(&n, &mut again),
                Ok(n.as_str()),
                "fixed point"
            );
            assert!(path::starts_with_prefix(p, &n) && path::starts_with_prefix(&n, p));
            // One byte short of the result is refused, never truncated.
            if n.len() > 1 {
                let mut short = vec![0u8; n.len() - 1];
                assert_eq!(path::normalize(p, &mut short), Err(PathError::TooLong));
            }
        }
        Err(PathError::NotAbsolute) => assert!(!p.starts_with('/')),
        Err(PathError::TooLong) => panic!("normalize({p:?}) needs more than its length"),
    }
}

fn check_join(cwd: &str, rel: &str) {
    let mut buf = vec![0u8; cwd.len() + rel.len() + 2];
    match path::join(cwd, rel, &mut buf) {
        Ok(j) => {
            assert!(cwd.starts_with('/'));
            let want = if rel.starts_with('/') {
                model(rel)
            } else {
                model(&format!("{cwd}/{rel}"))
            };
            assert_eq!(j, want, "join({cwd:?}, {rel:?})");
        }
        Err(PathError::NotAbsolute) => assert!(!cwd.starts_with('/')),
        Err(PathError::TooLong) => panic!("join({cwd:?}, {rel:?}) needs more than both"),
    }
}

fn check_grant(grant: &Url<'_>, request: &Url<'_>) {
    assert!(path::grant_allows(grant, grant), "{grant} allows itself");
    let g: Vec<&str> = path::components(grant.path()).collect();
    let r: Vec<&str> = path::components(request.path()).collect();
    let want = grant.scheme() == request.scheme()
        && grant.host() == request.host()
        && grant.port() == request.port()
        && r.len() >= g.len()
        && r[..g.len()] == g[..]
        && grant.query().is_none_or(|q| request.query() == Some(q));
    assert_eq!(
        path::grant_allows(grant, request),
        want,
        "grant {grant} for {request}"
    );
}
