//! The NATS wire format (client side): server operations parsed from a byte stream, client
//! operations written into a buffer.
//!
//! Parsing is incremental: [`parse`] looks at the start of what has arrived and returns one
//! operation and how many bytes it took, or [`Parsed::Incomplete`] when more bytes are needed
//! (a frame may be split anywhere, even inside `\r\n`). It never copies: a [`ServerOp`]
//! borrows the buffer.
//!
//! Hostile input is refused, never trusted: a control line longer than
//! [`Limits::max_control`], a payload longer than [`Limits::max_payload`], sizes that are not
//! decimal numbers or do not add up (`HMSG` headers longer than the total), a payload not
//! followed by `\r\n`, an unknown operation, a subject with spaces or control characters — each
//! is a [`ProtoError`]. Operation names are case-insensitive, as the server's are.

use alloc::vec::Vec;
use core::fmt::{self, Write as _};

/// How much a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest control line (the operation and its arguments, without `\r\n`).
    pub max_control: usize,
    /// Largest message (headers and payload together).
    pub max_payload: usize,
}

impl Default for Limits {
    /// The server's own defaults: 4 KiB control lines, 1 MiB messages.
    fn default() -> Self {
        Limits {
            max_control: 4096,
            max_payload: 1 << 20,
        }
    }
}

/// A message delivered to a subscription (`MSG` or `HMSG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    pub subject: &'a str,
    pub sid: u64,
    pub reply: Option<&'a str>,
    /// The raw header block (`NATS/1.0 …\r\n…\r\n\r\n`), for `HMSG`.
    pub headers: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// What a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// `INFO {json}`.
    Info(&'a str),
    Msg(Msg<'a>),
    Ping,
    Pong,
    /// `+OK` (verbose mode).
    Ok,
    /// `-ERR 'text'`, the text without its quotes.
    Err(&'a str),
}

/// The result of [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// An operation, and the bytes of the buffer it took.
    Op(ServerOp<'a>, usize),
    /// Not a whole operation yet.
    Incomplete,
}

/// Why the server's stream is not NATS (the connection must be dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// A control line longer than the limit.
    LineTooLong,
    /// An operation this client does not know.
    UnknownOp,
    /// Arguments missing, extra, or not what the operation takes.
    BadArgs,
    /// A size that is not a decimal number, or headers longer than the message.
    BadLength,
    /// A message larger than the limit.
    TooLarge,
    /// A payload not followed by `\r\n`.
    BadFraming,
    /// A control line that is not UTF-8 text.
    NotText,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtoError::LineTooLong => "control line too long",
            ProtoError::UnknownOp => "unknown operation",
            ProtoError::BadArgs => "bad arguments",
            ProtoError::BadLength => "bad length",
            ProtoError::TooLarge => "message larger than the limit",
            ProtoError::BadFraming => "payload not followed by CRLF",
            ProtoError::NotText => "control line is not text",
        })
    }
}

/// Parses the first server operation in `buf` (see the module doc).
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ProtoError> {
    let Some(end) = find_crlf(buf, limits.max_control) else {
        // No line end yet: refused once the line is already too long to be one.
        if buf.len() > limits.max_control + 1 {
            return Err(ProtoError::LineTooLong);
        }
        return Ok(Parsed::Incomplete);
    };
    let line = core::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| ProtoError::NotText)?;
    let after = end + 2;
    let (op, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_start_matches([' ', '\t'])),
        None => (line, ""),
    };
    let simple = |op: ServerOp<'a>| {
        if rest.is_empty() {
            Ok(Parsed::Op(op, after))
        } else {
            Err(ProtoError::BadArgs)
        }
    };
    if op.eq_ignore_ascii_case("PING") {
        simple(ServerOp::Ping)
    } else if op.eq_ignore_ascii_case("PONG") {
        simple(ServerOp::Pong)
    } else if op.eq_ignore_ascii_case("+OK") {
        simple(ServerOp::Ok)
    } else if op.eq_ignore_ascii_case("-ERR") {
        let text = rest.trim_end();
        let text = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or(text);
        Ok(Parsed::Op(ServerOp::Err(text), after))
    } else if op.eq_ignore_ascii_case("INFO") {
        if rest.is_empty() {
            return Err(ProtoError::BadArgs);
        }
        Ok(Parsed::Op(ServerOp::Info(rest.trim_end()), after))
    } else if op.eq_ignore_ascii_case("MSG") {
        message(buf, after, rest, false, limits)
    } else if op.eq_ignore_ascii_case("HMSG") {
        message(buf, after, rest, true, limits)
    } else {
        Err(ProtoError::UnknownOp)
    }
}

/// `MSG <subject> <sid> [reply] <#bytes>` or `HMSG <subject> <sid> [reply] <#hdr> <#total>`,
/// then the message and `\r\n`.
fn message<'a>(
    buf: &'a [u8],
    start: usize,
    args: &'a str,
    with_headers: bool,
    limits: &Limits,
) -> Result<Parsed<'a>, ProtoError> {
    let mut words = [""; 5];
    let mut n = 0;
    for w in args.split([' ', '\t']).filter(|w| !w.is_empty()) {
        *words.get_mut(n).ok_or(ProtoError::BadArgs)? = w;
        n += 1;
    }
    let given = words.get(..n).unwrap_or_default();
    let (head, sizes) = given.split_at(n.saturating_sub(if with_headers { 2 } else { 1 }));
    let (subject, sid, reply) = match head {
        [s, i] => (*s, *i, None),
        [s, i, r] => (*s, *i, Some(*r)),
        _ => return Err(ProtoError::BadArgs),
    };
    if !is_subject(subject) || reply.is_some_and(|r| !is_subject(r)) {
        return Err(ProtoError::BadArgs);
    }
    let sid = number(sid)?;
    let (header_len, total) = match sizes {
        [t] if !with_headers => (None, number(t)?),
        [h, t] if with_headers => (Some(number(h)?), number(t)?),
        _ => return Err(ProtoError::BadArgs),
    };
    if header_len.is_some_and(|h| h > total) {
        return Err(ProtoError::BadLength);
    }
    let total = usize::try_from(total).map_err(|_| ProtoError::TooLarge)?;
    if total > limits.max_payload {
        return Err(ProtoError::TooLarge);
    }
    let end = start + total;
    let Some(body) = buf.get(start..end) else {
        return Ok(Parsed::Incomplete);
    };
    match buf.get(end..end + 2) {
        None | Some([b'\r']) => return Ok(Parsed::Incomplete),
        Some(b"\r\n") => {}
        Some(_) => return Err(ProtoError::BadFraming),
    }
    if buf.len() == end + 1 {
        return Ok(Parsed::Incomplete);
    }
    let (headers, payload) = match header_len {
        // `header_len <= total` was checked above.
        Some(h) => {
            let (h, p) = body.split_at(h as usize);
            (Some(h), p)
        }
        None => (None, body),
    };
    Ok(Parsed::Op(
        ServerOp::Msg(Msg {
            subject,
            sid,
            reply,
            headers,
            payload,
        }),
        end + 2,
    ))
}

/// A decimal size or sid: digits only, no sign, fits a `u64`.
fn number(word: &str) -> Result<u64, ProtoError> {
    if word.is_empty() || word.len() > 19 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProtoError::BadLength);
    }
    word.parse().map_err(|_| ProtoError::BadLength)
}

/// Where the first `\r\n` is, looking no further than `max` bytes of line.
fn find_crlf(buf: &[u8], max: usize) -> Option<usize> {
    let window = buf.get(..buf.len().min(max + 2)).unwrap_or(buf);
    window.windows(2).position(|w| w == b"\r\n")
}

/// Whether `s` is a subject (or a subscription pattern) NATS accepts on the wire: not empty,
/// printable, no whitespace, no empty token.
pub fn is_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && s.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80)
        && s.split('.').all(|t| !t.is_empty())
}

/// Why a client operation was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// A subject, reply subject or queue group NATS would refuse.
    BadSubject,
    /// A message larger than the server takes.
    TooLarge,
    /// A header name or value NATS cannot carry.
    BadHeader,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::BadSubject => "not a NATS subject",
            WriteError::TooLarge => "message larger than the server takes",
            WriteError::BadHeader => "header not representable in NATS",
        })
    }
}

/// Appends client operations to a buffer (what the transport sends next).
pub struct Writer<'b> {
    out: &'b mut Vec<u8>,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl<'b> Writer<'b> {
    pub fn new(out: &'b mut Vec<u8>) -> Self {
        Writer { out }
    }

    /// `CONNECT {json}`: `json` is written as given (see [`crate::conn`] for what it holds).
    pub fn connect(&mut self, json: &str) {
        let _ = write!(self, "CONNECT {json}\r\n");
    }

    /// `PUB`, or `HPUB` when there are headers (a complete block, see [`crate::headers`]).
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        max_payload: usize,
    ) -> Result<(), WriteError> {
        if !is_plain_subject(subject) || reply.is_some_and(|r| !is_plain_subject(r)) {
            return Err(WriteError::BadSubject);
        }
        let header_len = headers.map_or(0, <[u8]>::len);
        let total = header_len + payload.len();
        if total > max_payload {
            return Err(WriteError::TooLarge);
        }
        let _ = match (headers, reply) {
            (Some(_), Some(r)) => write!(self, "HPUB {subject} {r} {header_len} {total}\r\n"),
            (Some(_), None) => write!(self, "HPUB {subject} {header_len} {total}\r\n"),
            (None, Some(r)) => write!(self, "PUB {subject} {r} {total}\r\n"),
            (None, None) => write!(self, "PUB {subject} {total}\r\n"),
        };
        if let Some(h) = headers {
            self.out.extend_from_slice(h);
        }
        self.out.extend_from_slice(payload);
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// `SUB <pattern> [queue] <sid>`.
    pub fn subscribe(
        &mut self,
        pattern: &str,
        queue: Option<&str>,
        sid: u64,
    ) -> Result<(), WriteError> {
        if !is_subject(pattern) || queue.is_some_and(|q| !is_subject(q) || q.contains('.')) {
            return Err(WriteError::BadSubject);
        }
        let _ = match queue {
            Some(q) => write!(self, "SUB {pattern} {q} {sid}\r\n"),
            None => write!(self, "SUB {pattern} {sid}\r\n"),
        };
        Ok(())
    }

    /// `UNSUB <sid> [max]`.
    pub fn unsubscribe(&mut self, sid: u64, max: Option<u64>) {
        let _ = match max {
            Some(m) => write!(self, "UNSUB {sid} {m}\r\n"),
            None => write!(self, "UNSUB {sid}\r\n"),
        };
    }

    pub fn ping(&mut self) {
        self.out.extend_from_slice(b"PING\r\n");
    }

    pub fn pong(&mut self) {
        self.out.extend_from_slice(b"PONG\r\n");
    }
}

/// A subject one publishes to: a subject without wildcards.
pub fn is_plain_subject(s: &str) -> bool {
    is_subject(s) && s.split('.').all(|t| t != "*" && t != ">")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn one(buf: &[u8]) -> Result<Parsed<'_>, ProtoError> {
        parse(buf, &Limits::default())
    }

    #[test]
    fn simple_operations() {
        assert_eq!(one(b"PING\r\n"), Ok(Parsed::Op(ServerOp::Ping, 6)));
        assert_eq!(one(b"pong\r\nPING"), Ok(Parsed::Op(ServerOp::Pong, 6)));
        assert_eq!(one(b"+OK\r\n"), Ok(Parsed::Op(ServerOp::Ok, 5)));
        assert_eq!(
            one(b"-ERR 'Authorization Violation'\r\n"),
            Ok(Parsed::Op(ServerOp::Err("Authorization Violation"), 32))
        );
        assert_eq!(
            one(b"INFO {\"server_id\":\"x\"}\r\n"),
            Ok(Parsed::Op(ServerOp::Info("{\"server_id\":\"x\"}"), 24))
        );
        assert_eq!(one(b"PING extra\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"INFO\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"HELLO\r\n"), Err(ProtoError::UnknownOp));
        assert_eq!(one(b"\r\n"), Err(ProtoError::UnknownOp));
        assert_eq!(one(b"PI\xffNG\r\n"), Err(ProtoError::NotText));
    }

    #[test]
    fn messages_with_and_without_reply_and_headers() {
        let m = one(b"MSG orders.new 7 5\r\nhello\r\n").unwrap();
        assert_eq!(
            m,
            Parsed::Op(
                ServerOp::Msg(Msg {
                    subject: "orders.new",
                    sid: 7,
                    reply: None,
                    headers: None,
                    payload: b"hello"
                }),
                27
            )
        );
        let Parsed::Op(ServerOp::Msg(m), n) = one(b"MSG a 1 _INBOX.x 0\r\n\r\nPING\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!((m.reply, m.payload, n), (Some("_INBOX.x"), &b""[..], 22));
        let buf = b"HMSG a.b 2 r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n";
        let Parsed::Op(ServerOp::Msg(m), n) = one(buf).unwrap() else {
            panic!()
        };
        assert_eq!(m.headers, Some(&b"NATS/1.0\r\nA: b\r\n\r\n"[..]));
        assert_eq!((m.payload, m.reply, n), (&b"hi"[..], Some("r"), buf.len()));
    }

    #[test]
    fn a_frame_split_anywhere_is_waited_for() {
        let whole = b"HMSG s 3 12 17\r\nNATS/1.0\r\n\r\nhello\r\n";
        for cut in 0..whole.len() {
            assert_eq!(one(&whole[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
        }
        assert!(matches!(one(whole), Ok(Parsed::Op(ServerOp::Msg(_), n)) if n == whole.len()));
    }

    #[test]
    fn hostile_sizes_and_framing_are_refused() {
        let small = Limits {
            max_control: 32,
            max_payload: 8,
        };
        assert_eq!(
            parse(b"MSG a 1 9\r\n", &small),
            Err(ProtoError::TooLarge),
            "refused before the payload arrives"
        );
        assert_eq!(
            one(b"MSG a 1 99999999999999999999\r\n"),
            Err(ProtoError::BadLength)
        );
        assert_eq!(one(b"MSG a 1 -1\r\n"), Err(ProtoError::BadLength));
        assert_eq!(one(b"MSG a 1 +5\r\n"), Err(ProtoError::BadLength));
        assert_eq!(one(b"MSG a x 5\r\n"), Err(ProtoError::BadLength));
        assert_eq!(one(b"HMSG a 1 6 5\r\n"), Err(ProtoError::BadLength));
        assert_eq!(one(b"MSG a 1 2\r\nhiXX"), Err(ProtoError::BadFraming));
        assert_eq!(one(b"MSG a 1\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"MSG a 1 b c 2\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"MSG a..b 1 2\r\n"), Err(ProtoError::BadArgs));
        let long = vec![b'x'; 40];
        assert_eq!(parse(&long, &small), Err(ProtoError::LineTooLong));
        assert_eq!(parse(&long[..33], &small), Ok(Parsed::Incomplete));
    }

    #[test]
    fn client_operations_are_written_and_checked() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.connect("{\"verbose\":false}");
        w.publish("a.b", None, None, b"hi", 100).unwrap();
        w.publish(
            "a.b",
            Some("_INBOX.1"),
            Some(b"NATS/1.0\r\n\r\n"),
            b"x",
            100,
        )
        .unwrap();
        w.subscribe("a.>", Some("workers"), 4).unwrap();
        w.unsubscribe(4, Some(1));
        w.ping();
        w.pong();
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "CONNECT {\"verbose\":false}\r\nPUB a.b 2\r\nhi\r\nHPUB a.b _INBOX.1 12 13\r\nNATS/1.0\r\n\r\nx\r\nSUB a.> workers 4\r\nUNSUB 4 1\r\nPING\r\nPONG\r\n"
        );
        let mut w = Writer::new(&mut out);
        assert_eq!(
            w.publish("a b", None, None, b"", 9),
            Err(WriteError::BadSubject)
        );
        assert_eq!(
            w.publish("a.*", None, None, b"", 9),
            Err(WriteError::BadSubject)
        );
        assert_eq!(
            w.publish("a", None, None, b"0123456789", 9),
            Err(WriteError::TooLarge)
        );
        assert_eq!(
            w.subscribe("a", Some("q.x"), 1),
            Err(WriteError::BadSubject)
        );
        assert_eq!(
            w.subscribe("a\r\nPUB", None, 1),
            Err(WriteError::BadSubject)
        );
    }
}
