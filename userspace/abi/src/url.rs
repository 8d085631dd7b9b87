//! Resource URLs (DESIGN.md §4 "URL schemes"): the parsed, borrowed form of the string a run
//! passes to `open`.
//!
//! Job: turn `&str` into a [`Url`] — scheme, optional authority (`host[:port]`), path, optional
//! query — or reject it with a [`UrlError`] that says what is wrong. Nothing is allocated and
//! nothing is decoded: every part borrows from the input.
//!
//! Accepted forms:
//! - `scheme://authority/path?query`, each of authority, path and query optional:
//!   `file:///etc/motd`, `console://stdout`, `tcp://10.0.2.2:4222`, `tcp://:4222?listen`,
//!   `proc://3/status` (authority `3`), `mem://heap`, `bus://sensors.>`.
//! - A plain absolute path (`/etc/motd`) means `file:///etc/motd`; its `Display` is the
//!   `file://` form.
//!
//! Invariants of a parsed [`Url`]:
//! - the whole input is at most [`MAX_URL_LEN`] bytes — a plain path at most `MAX_URL_LEN - 7`,
//!   so that its `file://` form is a URL too — and contains no control character
//!   (C0, DEL, C1; NUL included), no `%` and no `#`;
//! - the scheme is 1..=[`MAX_SCHEME_LEN`] bytes of `[a-z0-9+.-]` starting with `[a-z]`
//!   (upper case is rejected, not folded: a borrowed view cannot hold a lowered copy, and one
//!   spelling per scheme keeps grant comparison exact);
//! - the authority, when present, is non-empty, contains no `/`, `?` or `@`, and if it has a
//!   `:` then what follows is a decimal port 1..=65535 without sign or leading zeros (the host
//!   before it may be empty: `tcp://:4222`); IPv6 literals are not supported;
//! - the path is empty or starts with `/`; it is *not* normalised here (see [`crate::path`]);
//! - the query, when present, is everything after the first `?` (possibly empty).
//!
//! Choices where the design is silent:
//! - Percent-encoding is not supported: any `%` is rejected ([`UrlError::PercentEncoding`]), so
//!   `%2e%2e` can never be decoded by one layer into a `..` that another layer did not see.
//! - Fragments are not supported: any `#` is rejected ([`UrlError::Fragment`]).
//! - Non-ASCII (UTF-8) text is allowed in the authority, path and query.
//! - `parse(u.to_string()) == u` for every parsed `u`, and `u.to_string()` is the input itself
//!   for every input in `scheme://` form.

use core::fmt;

use crate::Error;

/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 1024;
/// The longest scheme accepted, in bytes.
pub const MAX_SCHEME_LEN: usize = 16;

/// Why a string is not a valid URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// The string is empty.
    Empty,
    /// The string is longer than [`MAX_URL_LEN`] bytes (a plain path: its `file://` form).
    TooLong,
    /// The string contains a control character (NUL included).
    ControlCharacter,
    /// The string contains `%`; percent-encoding is not supported.
    PercentEncoding,
    /// The string contains `#`; fragments are not supported.
    Fragment,
    /// A scheme is followed by `:` but not by `://`.
    MissingSeparator,
    /// The scheme is empty, too long, not lower case or has a character outside `[a-z0-9+.-]`.
    BadScheme,
    /// The authority has user information (`@`).
    BadAuthority,
    /// The port is empty, not decimal, zero, has leading zeros or is above 65535.
    BadPort,
    /// A relative path was given where an absolute path or a `scheme://` URL is required.
    RelativePath,
}

impl UrlError {
    /// The message a user sees, lower case, no trailing punctuation.
    pub const fn message(self) -> &'static str {
        match self {
            UrlError::Empty => "empty url",
            UrlError::TooLong => "url too long",
            UrlError::ControlCharacter => "control character in url",
            UrlError::PercentEncoding => "percent-encoding is not supported",
            UrlError::Fragment => "fragments (#) are not supported",
            UrlError::MissingSeparator => "missing :// after the scheme",
            UrlError::BadScheme => "bad scheme",
            UrlError::BadAuthority => "bad authority",
            UrlError::BadPort => "bad port",
            UrlError::RelativePath => "relative path where an absolute path is required",
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Error {
        match e {
            UrlError::Empty
            | UrlError::TooLong
            | UrlError::ControlCharacter
            | UrlError::PercentEncoding
            | UrlError::Fragment
            | UrlError::MissingSeparator
            | UrlError::BadScheme
            | UrlError::BadAuthority
            | UrlError::BadPort
            | UrlError::RelativePath => Error::InvalidArgument,
        }
    }
}

/// A parsed resource URL borrowing from its source string. See the module docs for the
/// invariants every value satisfies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    scheme: &'a str,
    authority: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    path: &'a str,
    query: Option<&'a str>,
}

/// The scheme a plain absolute path stands for.
pub const FILE_SCHEME: &str = "file";

impl<'a> Url<'a> {
    /// Parses `s`. A plain absolute path means `file://` + that path.
    pub fn parse(s: &'a str) -> Result<Url<'a>, UrlError> {
        if s.is_empty() {
            return Err(UrlError::Empty);
        }
        // A plain path is measured as its canonical `file://` form, which must parse too.
        let canonical_len = if s.starts_with('/') {
            s.len().saturating_add("file://".len())
        } else {
            s.len()
        };
        if canonical_len > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        for c in s.chars() {
            if c.is_control() {
                return Err(UrlError::ControlCharacter);
            }
            if c == '%' {
                return Err(UrlError::PercentEncoding);
            }
            if c == '#' {
                return Err(UrlError::Fragment);
            }
        }

        if s.starts_with('/') {
            let (path, query) = split_query(s);
            return Ok(Url {
                scheme: FILE_SCHEME,
                authority: None,
                host: "",
                port: None,
                path,
                query,
            });
        }

        // A scheme is whatever precedes the first ':' provided no '/' comes before it;
        // otherwise the input is a relative path.
        let colon = match s.find([':', '/']) {
            Some(i) if s.as_bytes()[i] == b':' => i,
            _ => return Err(UrlError::RelativePath),
        };
        let scheme = &s[..colon];
        if !is_valid_scheme(scheme) {
            return Err(UrlError::BadScheme);
        }
        let rest = match s[colon + 1..].strip_prefix("//") {
            Some(rest) => rest,
            None => return Err(UrlError::MissingSeparator),
        };

        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        let (path, query) = split_query(&rest[auth_end..]);
        let (authority, host, port) = if authority.is_empty() {
            (None, "", None)
        } else {
            let (host, port) = parse_authority(authority)?;
            (Some(authority), host, port)
        };
        Ok(Url {
            scheme,
            authority,
            host,
            port,
            path,
            query,
        })
    }

    /// The scheme, lower case, without `://` (`file` for a plain path).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// The authority (`host[:port]`) as written, `None` when empty (`file:///x`).
    pub fn authority(&self) -> Option<&'a str> {
        self.authority
    }

    /// The host part of the authority (empty when there is no authority or it is `:port`).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port of the authority, if it has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path as written: empty or starting with `/`; not normalised.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The text after `?`, if there is a `?` (possibly empty).
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }
}

impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme,
            self.authority.unwrap_or(""),
            self.path
        )?;
        if let Some(q) = self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

impl<'a> TryFrom<&'a str> for Url<'a> {
    type Error = UrlError;

    fn try_from(s: &'a str) -> Result<Url<'a>, UrlError> {
        Url::parse(s)
    }
}

/// Splits `path?query` at the first `?`.
fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

fn is_valid_scheme(scheme: &str) -> bool {
    let b = scheme.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_SCHEME_LEN
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.')
        })
}

/// Splits a non-empty authority into host and optional port.
fn parse_authority(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::BadAuthority);
    }
    match authority.split_once(':') {
        None => Ok((authority, None)),
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
    }
}

fn parse_port(s: &str) -> Result<u16, UrlError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 5 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return Err(UrlError::BadPort);
    }
    let mut v: u32 = 0;
    for &d in b {
        v = v * 10 + u32::from(d - b'0');
    }
    u16::try_from(v).map_err(|_| UrlError::BadPort)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::{String, ToString};

    fn ok(s: &str) -> Url<'_> {
        match Url::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s:?} rejected: {e}"),
        }
    }

    fn err(s: &str) -> UrlError {
        match Url::parse(s) {
            Ok(u) => panic!("{s:?} accepted as {u:?}"),
            Err(e) => e,
        }
    }

    /// Display reproduces the input exactly, and parsing the display gives the same URL.
    fn round_trips(s: &str) {
        let u = ok(s);
        let shown = u.to_string();
        assert_eq!(shown, s);
        assert_eq!(ok(&shown), u);
    }

    #[test]
    fn design_examples() {
        let u = ok("file:///etc/motd");
        assert_eq!(
            (u.scheme(), u.authority(), u.path(), u.query()),
            ("file", None, "/etc/motd", None)
        );

        let u = ok("console://stdout");
        assert_eq!(
            (u.scheme(), u.authority(), u.host(), u.path()),
            ("console", Some("stdout"), "stdout", "")
        );

        let u = ok("tcp://10.0.2.2:4222");
        assert_eq!((u.host(), u.port(), u.path()), ("10.0.2.2", Some(4222), ""));

        let u = ok("proc://3/status");
        assert_eq!((u.authority(), u.path()), (Some("3"), "/status"));

        let u = ok("proc://self/status");
        assert_eq!((u.host(), u.path()), ("self", "/status"));

        let u = ok("mem://heap");
        assert_eq!(
            (u.scheme(), u.authority(), u.path()),
            ("mem", Some("heap"), "")
        );

        let u = ok("bus://sensors.>");
        assert_eq!(u.authority(), Some("sensors.>"));

        let u = ok("tcp://:4222?listen");
        assert_eq!(
            (u.host(), u.port(), u.query()),
            ("", Some(4222), Some("listen"))
        );

        for s in [
            "file:///etc/motd",
            "console://stdout",
            "tcp://10.0.2.2:4222",
            "proc://3/status",
            "mem://heap",
            "bus://sensors.>",
            "tcp://:4222?listen",
            "tcp://host?",
            "file://",
            "file:///",
            "file:///a//b/./../c/",
            "x-y+z.1://h/p?q=1&r=/s?t",
            "file:///données/ファイル",
        ] {
            round_trips(s);
        }
    }

    #[test]
    fn plain_path_means_file() {
        let u = ok("/etc/motd");
        assert_eq!(
            (u.scheme(), u.authority(), u.path(), u.query()),
            ("file", None, "/etc/motd", None)
        );
        assert_eq!(u.to_string(), "file:///etc/motd");
        assert_eq!(ok(&u.to_string()), u);

        assert_eq!(ok("/").path(), "/");
        let u = ok("/a?append");
        assert_eq!((u.path(), u.query()), ("/a", Some("append")));
        assert_eq!(u.to_string(), "file:///a?append");
        // A "://" inside a plain path is just path text.
        assert_eq!(ok("/a://b").path(), "/a://b");
        assert_eq!(ok("//x").path(), "//x");
    }

    #[test]
    fn query_splits_at_first_question_mark() {
        let u = ok("file:///a?b?c/d");
        assert_eq!((u.path(), u.query()), ("/a", Some("b?c/d")));
        let u = ok("mem://heap?x");
        assert_eq!(
            (u.authority(), u.path(), u.query()),
            (Some("heap"), "", Some("x"))
        );
        let u = ok("file://?q");
        assert_eq!((u.authority(), u.path(), u.query()), (None, "", Some("q")));
    }

    #[test]
    fn empty_and_relative() {
        assert_eq!(err(""), UrlError::Empty);
        for s in [
            "etc/motd", "motd", ".", "..", "./x", "../x", "a/b:c", " /x", "~/x",
        ] {
            assert_eq!(err(s), UrlError::RelativePath, "{s:?}");
        }
    }

    #[test]
    fn schemes() {
        for s in [
            "FILE:///x",
            "File:///x",
            "fiLe:///x",
            "1abc://x",
            "+a://x",
            ".a://x",
            "-a://x",
            "://x",
            "a_b://x",
            "a b://x",
            "é://x",
            "a*://x",
        ] {
            assert_eq!(err(s), UrlError::BadScheme, "{s:?}");
        }
        let sixteen = "abcdefghijklmnop";
        assert_eq!(ok(&format!("{sixteen}://x")).scheme(), sixteen);
        assert_eq!(err(&format!("{sixteen}q://x")), UrlError::BadScheme);
        assert_eq!(ok("a://").scheme(), "a");
        assert_eq!(ok("a1+-.://").scheme(), "a1+-.");
    }

    #[test]
    fn separator() {
        for s in [
            "file:/etc/motd",
            "file:etc",
            "file:",
            "mem:heap",
            "tcp:10.0.2.2:4222",
            "file:\\\\x",
        ] {
            assert_eq!(err(s), UrlError::MissingSeparator, "{s:?}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(ok("tcp://h:1").port(), Some(1));
        assert_eq!(ok("tcp://h:65535").port(), Some(65535));
        assert_eq!(ok("tcp://h:80/x").port(), Some(80));
        assert_eq!(ok("tcp://h:80?l").port(), Some(80));
        assert_eq!(ok("tcp://h").port(), None);
        for p in [
            "0",
            "00",
            "080",
            "65536",
            "99999",
            "100000",
            "-1",
            "+1",
            "abc",
            "",
            " 80",
            "80 ",
            "1:2",
            "８０",
            "4294967376",
        ] {
            let s = format!("tcp://h:{p}");
            assert_eq!(err(&s), UrlError::BadPort, "{s:?}");
        }
        // IPv6 literals are not supported.
        assert_eq!(err("tcp://[::1]:80"), UrlError::BadPort);
    }

    #[test]
    fn user_info_rejected() {
        assert_eq!(err("tcp://user@h:1"), UrlError::BadAuthority);
        assert_eq!(err("tcp://user:pw@h"), UrlError::BadAuthority);
        // An '@' in the path is ordinary path text.
        assert_eq!(ok("file:///a@b").path(), "/a@b");
    }

    #[test]
    fn every_control_character_is_rejected() {
        let controls = (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32);
        for c in controls {
            for s in [
                format!("{c}"),
                format!("/a{c}b"),
                format!("file:///a{c}"),
                format!("tcp://h{c}:1"),
                format!("tcp://h:1{c}"),
                format!("mem://heap?{c}"),
                format!("fi{c}le:///a"),
            ] {
                assert_eq!(err(&s), UrlError::ControlCharacter, "{s:?}");
            }
        }
        assert_eq!(err("/a\0"), UrlError::ControlCharacter);
        assert_eq!(err("\0"), UrlError::ControlCharacter);
    }

    #[test]
    fn percent_and_fragment_rejected() {
        for s in [
            "/%2e%2e/etc",
            "file:///a%20b",
            "/%",
            "/a%zz",
            "tcp://h%41:1",
            "mem://heap?%",
        ] {
            assert_eq!(err(s), UrlError::PercentEncoding, "{s:?}");
        }
        for s in ["/a#b", "file:///a#", "mem://heap?x#y"] {
            assert_eq!(err(s), UrlError::Fragment, "{s:?}");
        }
    }

    #[test]
    fn length_limit() {
        let mut s = String::from("file:///");
        s.push_str(&"a".repeat(MAX_URL_LEN - 8));
        assert_eq!(ok(&s).path().len(), MAX_URL_LEN - 7);
        s.push('a');
        assert_eq!(err(&s), UrlError::TooLong);
        // A plain path counts as its `file://` form, so that form always parses (found by the
        // url_path fuzz target: a 1024-byte path displayed as a URL that did not parse).
        let path = format!("/{}", "a".repeat(MAX_URL_LEN - 8));
        assert_eq!(ok(&path).to_string().len(), MAX_URL_LEN);
        assert_eq!(ok(&ok(&path).to_string()), ok(&path));
        assert_eq!(err(&format!("{path}a")), UrlError::TooLong);
        // Multi-byte characters count by bytes.
        let s = format!("/{}", "é".repeat(MAX_URL_LEN / 2));
        assert_eq!(err(&s), UrlError::TooLong);
        // Huge input is rejected before it is scanned.
        let huge = format!("/{}\0", "x".repeat(1 << 20));
        assert_eq!(err(&huge), UrlError::TooLong);
    }

    #[test]
    fn unicode_is_text() {
        let u = ok("file:///日本/ü");
        assert_eq!(u.path(), "/日本/ü");
        let u = ok("console://stdöut");
        assert_eq!(u.host(), "stdöut");
        // Unicode whitespace that is not a control character is allowed.
        assert_eq!(ok("/a\u{00a0}b").path(), "/a\u{00a0}b");
    }

    #[test]
    fn errors_map_to_invalid_argument_and_display() {
        let all = [
            UrlError::Empty,
            UrlError::TooLong,
            UrlError::ControlCharacter,
            UrlError::PercentEncoding,
            UrlError::Fragment,
            UrlError::MissingSeparator,
            UrlError::BadScheme,
            UrlError::BadAuthority,
            UrlError::BadPort,
            UrlError::RelativePath,
        ];
        for e in all {
            assert_eq!(Error::from(e), Error::InvalidArgument);
            let m = e.to_string();
            assert!(!m.is_empty() && !m.ends_with('.'));
            assert_eq!(m, m.to_lowercase());
        }
        let r: Result<Url<'_>, Error> = Url::parse("").map_err(Error::from);
        assert_eq!(r, Err(Error::InvalidArgument));
        assert_eq!(Url::try_from("mem://heap"), Url::parse("mem://heap"));
    }
}
