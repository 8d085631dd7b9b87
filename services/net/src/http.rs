//! A small, strict HTTP/1.1 request parser and response writer for the status server.
//!
//! What is accepted (RFC 9112): a request line `METHOD SP target SP HTTP/1.x CRLF` with a token
//! method and an origin-form target (`/…`, visible ASCII); header lines `name: value CRLF`
//! with a token name and a value of visible ASCII, spaces and tabs; an empty line. One empty
//! line before the request line is tolerated. HTTP/1.1 needs `Host`.
//!
//! What is refused, with the status to answer:
//! - 400: a malformed request line or header, a bare LF, obs-fold (a line starting with
//!   white space), white space before a colon, control characters, a missing `Host` (1.1),
//!   a bad or conflicting `Content-Length`, a body (this server takes none), `Transfer-Encoding`.
//! - 414: a request line over [`Limits::request_line`].
//! - 431: a header line over [`Limits::header_line`], more than [`Limits::headers`] headers, or
//!   a head over [`Limits::head`].
//! - 505: an HTTP version other than 1.0 and 1.1.
//!
//! Answers are written through [`Out`], a [`fmt::Write`] over a byte buffer that grows with
//! `try_reserve` up to a limit: running out of heap or room is an error the caller handles
//! (the status server answers 503 or resets that one connection), never an allocation failure.
//!
//! Invariants: parsing never panics and never allocates; [`parse`] either needs more bytes,
//! refuses with a status, or returns a request and the length of its head; writing an answer
//! allocates only through `try_reserve`, never past its limit.

use alloc::vec::Vec;
use core::fmt;

/// Size limits of a request head.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_line: usize,
    pub header_line: usize,
    pub headers: usize,
    pub head: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        request_line: 1024,
        header_line: 1024,
        headers: 32,
        head: 4096,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Anything else (answered 405 by the status server).
    Other,
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'b> {
    pub method: Method,
    /// The target's path (without the query).
    pub path: &'b str,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

/// Why a request is refused: its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub u16);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, reason(self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'b> {
    /// The head is not complete yet.
    Partial,
    /// A request, whose head took `head_len` bytes of the buffer.
    Complete {
        request: Request<'b>,
        head_len: usize,
    },
}

/// The reason phrase of `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Splits off the next CRLF-terminated line of `buf` from `at`: the line (without CRLF) and
/// where the next starts; `Ok(None)` if no line end is there yet; 400 for a bare LF or CR.
fn line(
    buf: &[u8],
    at: usize,
    limit: usize,
    too_long: u16,
) -> Result<Option<(&[u8], usize)>, Refused> {
    let rest = &buf[at..];
    for (i, &b) in rest.iter().enumerate() {
        if i > limit {
            return Err(Refused(too_long));
        }
        match b {
            b'\n' => return Err(Refused(400)),
            b'\r' => {
                return match rest.get(i + 1) {
                    Some(b'\n') => Ok(Some((&rest[..i], at + i + 2))),
                    Some(_) => Err(Refused(400)),
                    None => Ok(None),
                };
            }
            _ => {}
        }
    }
    if rest.len() > limit {
        return Err(Refused(too_long));
    }
    Ok(None)
}

fn request_line(line: &[u8]) -> Result<(Method, &str, bool), Refused> {
    let bad = Refused(400);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !is_token(method) {
        return Err(bad);
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    if !target.starts_with(b"/") || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(bad);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        v if v.len() == 8
            && v.starts_with(b"HTTP/")
            && v[5].is_ascii_digit()
            && v[6] == b'.'
            && v[7].is_ascii_digit() =>
        {
            return Err(Refused(505));
        }
        _ => return Err(bad),
    };
    // Cannot fail: every byte was checked to be visible ASCII.
    let target = core::str::from_utf8(target).map_err(|_| bad)?;
    let path = target.split('?').next().unwrap_or(target);
    Ok((method, path, http11))
}

/// Whether the comma-separated token list `value` holds `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses the request head at the start of `buf`.
pub fn parse<'b>(buf: &'b [u8], limits: &Limits) -> Result<Parsed<'b>, Refused> {
    let mut at = 0;
    // One empty line before the request line is tolerated (RFC 9112 §2.2).
    if buf.starts_with(b"\r\n") {
        at = 2;
    }
    let Some((first, mut at)) = line(buf, at, limits.request_line, 414)? else {
        return Ok(Parsed::Partial);
    };
    let (method, path, http11) = request_line(first)?;
    let (mut host, mut close, mut keep) = (false, false, false);
    let mut length: Option<&[u8]> = None;
    let mut headers = 0;
    loop {
        if at > limits.head {
            return Err(Refused(431));
        }
        let Some((header, next)) = line(buf, at, limits.header_line, 431)? else {
            if buf.len() > limits.head {
                return Err(Refused(431));
            }
            return Ok(Parsed::Partial);
        };
        at = next;
        if header.is_empty() {
            break;
        }
        headers += 1;
        if headers > limits.headers {
            return Err(Refused(431));
        }
        let colon = header.iter().position(|&b| b == b':').ok_or(Refused(400))?;
        let (name, value) = (&header[..colon], &header[colon + 1..]);
        // A token name (no white space before the colon, no obs-fold continuation line).
        if !is_token(name) {
            return Err(Refused(400));
        }
        let value = value.trim_ascii();
        if !value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80)
        {
            return Err(Refused(400));
        }
        if name.eq_ignore_ascii_case(b"host") {
            if host {
                return Err(Refused(400));
            }
            host = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(value, "close");
            keep |= has_token(value, "keep-alive");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if !is_digits(value) || length.is_some_and(|l| l != value) {
                return Err(Refused(400));
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Refused(400));
        }
    }
    if http11 && !host {
        return Err(Refused(400));
    }
    // The status server takes no request bodies.
    if length.is_some_and(|l| l.iter().any(|&b| b != b'0')) {
        return Err(Refused(400));
    }
    let keep_alive = if http11 { !close } else { keep && !close };
    Ok(Parsed::Complete {
        request: Request {
            method,
            path,
            http11,
            keep_alive,
        },
        head_len: at,
    })
}

fn is_digits(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit)
}

/// Most bytes of a response head (status line and headers).
pub const HEAD_MAX: usize = 1024;

/// A [`fmt::Write`] appending to a byte buffer: it grows with `try_reserve` and never past
/// `limit` bytes. Once a write fails (no heap, or no room) every later one fails too, so a
/// sequence of writes can be checked once at the end with [`Out::ok`].
pub struct Out<'v> {
    buf: &'v mut Vec<u8>,
    limit: usize,
    failed: bool,
}

impl<'v> Out<'v> {
    /// Appends to `buf`, which may hold at most `limit` bytes in all.
    pub fn new(buf: &'v mut Vec<u8>, limit: usize) -> Out<'v> {
        Out {
            buf,
            limit,
            failed: false,
        }
    }

    /// Appends `bytes`, or fails (and stays failed) if they do not fit.
    pub fn bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        let fits = !self.failed
            && self.buf.len().saturating_add(bytes.len()) <= self.limit
            && self.buf.try_reserve(bytes.len()).is_ok();
        if !fits {
            self.failed = true;
            return Err(fmt::Error);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Whether every write so far succeeded.
    pub fn ok(&self) -> Result<(), fmt::Error> {
        if self.failed { Err(fmt::Error) } else { Ok(()) }
    }
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes())
    }
}

/// Writes a response head into `out` (which it clears first): status line, `Content-Type`,
/// `Content-Length`, `Connection`, and `extra` headers. Fails if the heap has no room for it
/// (or the head would be over [`HEAD_MAX`]); `out` then holds part of it.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    length: usize,
    keep_alive: bool,
    extra: &[(&str, &str)],
) -> fmt::Result {
    use core::fmt::Write;
    out.clear();
    let mut head = Out::new(out, HEAD_MAX);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: {}\r\n",
        reason(status),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in extra {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let _ = head.bytes(b"\r\n");
    head.ok()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const L: Limits = Limits::DEFAULT;

    fn ok(text: &str) -> (Request<'_>, usize) {
        match parse(text.as_bytes(), &L) {
            Ok(Parsed::Complete { request, head_len }) => (request, head_len),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn refused(text: &[u8]) -> u16 {
        match parse(text, &L) {
            Err(Refused(s)) => s,
            other => panic!(
                "{:?}: {other:?}",
                std::string::String::from_utf8_lossy(text)
            ),
        }
    }

    #[test]
    fn requests_parse() {
        let text = "GET /varz?x=1 HTTP/1.1\r\nHost: 10.0.2.15\r\nAccept: */*\r\n\r\n";
        let (r, n) = ok(text);
        assert_eq!(
            (r.method, r.path, r.http11, r.keep_alive, n),
            (Method::Get, "/varz", true, true, text.len())
        );
        let (r, _) = ok("HEAD / HTTP/1.0\r\n\r\n");
        assert_eq!(
            (r.method, r.http11, r.keep_alive),
            (Method::Head, false, false)
        );
        let (r, _) = ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(r.keep_alive);
        let (r, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
        assert!(!r.keep_alive);
        let (r, _) = ok("POST /x HTTP/1.1\r\nhost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.method, Method::Other);
        ok("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn every_prefix_of_a_request_is_partial() {
        let text = b"GET /metrics HTTP/1.1\r\nHost: h\r\nUser-Agent: curl\r\n\r\n";
        for n in 0..text.len() {
            assert_eq!(parse(&text[..n], &L), Ok(Parsed::Partial), "{n}");
        }
    }

    #[test]
    fn pipelined_requests_parse_one_after_another() {
        let text = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let Ok(Parsed::Complete { request, head_len }) = parse(text, &L) else {
            panic!()
        };
        assert_eq!(request.path, "/a");
        let Ok(Parsed::Complete { request, .. }) = parse(&text[head_len..], &L) else {
            panic!()
        };
        assert_eq!(request.path, "/b");
    }

    #[test]
    fn malformed_requests_are_400() {
        for text in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /\r\nHost: a\r\n\r\n",
            b"GET / http/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n",
            b"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\rHost: a\r\n\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(
                refused(text),
                400,
                "{:?}",
                std::string::String::from_utf8_lossy(text)
            );
        }
        assert_eq!(refused(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    }

    #[test]
    fn oversized_requests_are_414_or_431() {
        let long_target = std::format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(1100));
        assert_eq!(refused(long_target.as_bytes()), 414);
        // Over the limit without a line end yet: refused, not partial.
        assert_eq!(refused(&long_target.as_bytes()[..1050]), 414);
        let long_header = std::format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "b".repeat(1100)
        );
        assert_eq!(refused(long_header.as_bytes()), 431);
        let mut many = std::string::String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..40 {
            many.push_str(&std::format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(refused(many.as_bytes()), 431);
        let mut big = std::string::String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..8 {
            big.push_str(&std::format!("X-{i}: {}\r\n", "z".repeat(900)));
        }
        assert_eq!(refused(big.as_bytes()), 431);
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let valid = b"GET /varz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..30_000 {
            let mut v: Vec<u8> = valid.to_vec();
            for _ in 0..(next() % 4) {
                let i = next() as usize % v.len();
                match next() % 3 {
                    0 => v[i] = next() as u8,
                    1 => v.insert(i, next() as u8),
                    _ => {
                        v.remove(i);
                    }
                }
            }
            v.truncate(next() as usize % (v.len() + 1));
            if let Ok(Parsed::Complete { head_len, .. }) = parse(&v, &L) {
                assert!(head_len <= v.len());
            }
            let random: Vec<u8> = (0..next() % 64).map(|_| next() as u8).collect();
            let _ = parse(&random, &L);
        }
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        write_head(&mut out, 200, "application/json", 2, true, &[]).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
        );
        write_head(
            &mut out,
            405,
            "text/plain",
            0,
            false,
            &[("Allow", "GET, HEAD")],
        )
        .unwrap();
        assert!(out.ends_with(b"Connection: close\r\nAllow: GET, HEAD\r\n\r\n"));
        assert_eq!(reason(431), "Request Header Fields Too Large");
    }

    #[test]
    fn out_stops_at_its_limit_and_stays_failed() {
        use core::fmt::Write;
        let mut buf = Vec::new();
        let mut out = Out::new(&mut buf, 8);
        assert!(write!(out, "12345").is_ok());
        assert!(out.ok().is_ok());
        assert!(write!(out, "6789").is_err());
        // Once failed, failed: a later write that would fit is refused too.
        assert!(out.bytes(b"x").is_err());
        assert!(out.ok().is_err());
        assert_eq!(buf, b"12345");
        let long = "x".repeat(HEAD_MAX);
        assert!(write_head(&mut buf, 200, &long, 0, true, &[]).is_err());
        assert!(buf.len() <= HEAD_MAX);
    }
}
