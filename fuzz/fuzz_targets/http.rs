//! Fuzz target `http`: the status server's HTTP/1.1 request-head parser
//! (`zb_net::http::parse`), which reads whatever a TCP peer sends.
//!
//! The input is the bytes received, parsed with the default limits and with small ones.
//! Beyond "never panics" it asserts:
//! - a refusal is one of the statuses the module documents (400, 414, 431, 505);
//! - a complete head ends with the empty line, lies inside the buffer, and parses the same on
//!   its own (what follows it — a pipelined request — changes nothing);
//! - every shorter prefix of a complete head is `Partial` (a head arriving in pieces is
//!   waited for, never refused part-way);
//! - the request's path is the target before any `?`: visible ASCII starting with `/`;
//! - with no `Host` a complete request is HTTP/1.0; HTTP/1.0 stays open only when asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_net::http::{Limits, Parsed, parse};

const SMALL: Limits = Limits {
    request_line: 40,
    header_line: 40,
    headers: 3,
    head: 160,
};

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::DEFAULT, SMALL] {
        check(data, &limits);
    }
});

fn check(buf: &[u8], limits: &Limits) {
    match parse(buf, limits) {
        Err(refused) => assert!(
            matches!(refused.0, 400 | 414 | 431 | 505),
            "undocumented status {refused}"
        ),
        Ok(Parsed::Partial) => {}
        Ok(complete @ Parsed::Complete { request, head_len }) => {
            assert!(head_len <= buf.len());
            let head = &buf[..head_len];
            assert!(
                head.ends_with(b"\r\n\r\n"),
                "{:?}",
                String::from_utf8_lossy(head)
            );
            assert_eq!(
                parse(head, limits),
                Ok(complete),
                "the head alone parses the same"
            );
            // Prefixes: the last byte missing, half of it, and every prefix of a short head.
            let cuts: Vec<usize> = if head_len <= 64 {
                (0..head_len).collect()
            } else {
                vec![0, 1, head_len / 2, head_len - 2, head_len - 1]
            };
            for cut in cuts {
                assert_eq!(
                    parse(&buf[..cut], limits),
                    Ok(Parsed::Partial),
                    "prefix of {cut} bytes of {:?}",
                    String::from_utf8_lossy(head)
                );
            }
            let path = request.path.as_bytes();
            assert!(path.starts_with(b"/") && path.iter().all(u8::is_ascii_graphic));
            assert!(!path.contains(&b'?'));
            if !request.http11 {
                let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
                assert!(!request.keep_alive || lower.contains("keep-alive"));
            }
            // A pipelined request after it parses on its own.
            let _ = parse(&buf[head_len..], limits);
        }
    }
}
