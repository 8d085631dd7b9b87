//! Fuzz target `bus_options`: what a run passes to `subscribe` and `emit` — the options text
//! (`zb_abi::bus::SubscribeOptions::parse`, over `check_pairs`/`pairs`) and subjects and
//! patterns (`zb_bus::subject`).
//!
//! The input is UTF-8 text, parsed whole as options; its first two lines are also a pattern
//! and a subject. Beyond "never panics" it asserts:
//! - parsed options satisfy their rules (`delete` needs `durable`; names non-empty), the text
//!   passes `check_pairs`, and writing the options back as `key=value` lines parses to the same;
//! - a checked subject is a checked pattern, matches itself, `>` and the all-`*` pattern of its
//!   length; `matches` agrees with a token-by-token model for every checked pattern and subject.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use zb_abi::bus::{DeliverFrom, SubscribeOptions, check_pairs, pairs};
use zb_bus::subject::{MAX_SUBJECT, MAX_TOKENS, check_pattern, check_subject, matches};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_options(text);
    let mut lines = text.split('\n');
    let pattern = lines.next().unwrap_or_default();
    let subject = lines.next().unwrap_or_default();
    check_subjects(pattern, subject);
    check_subjects(subject, pattern);
});

fn check_options(text: &str) {
    let Ok(o) = SubscribeOptions::parse(text) else {
        return;
    };
    assert!(check_pairs(text).is_ok());
    assert!(pairs(text).count() <= text.split('\n').count());
    assert!(!o.delete || o.durable.is_some());
    assert!(o.queue.is_none_or(|q| !q.is_empty() && !q.contains('\n')));
    assert!(o.durable.is_none_or(|d| !d.is_empty() && !d.contains('\n')));
    let mut out = String::new();
    if let Some(q) = o.queue {
        let _ = writeln!(out, "queue={q}");
    }
    if let Some(d) = o.durable {
        let _ = writeln!(out, "durable={d}");
    }
    match o.from {
        DeliverFrom::New => out.push_str("from=new\n"),
        DeliverFrom::Seq(0) => out.push_str("from=all\n"),
        DeliverFrom::Seq(n) => {
            let _ = writeln!(out, "from={n}");
        }
    }
    for (key, value) in [
        ("max_deliver", o.max_deliver),
        ("ack_wait_ms", o.ack_wait_ms),
        ("wait_ms", o.wait_ms),
    ] {
        if let Some(v) = value {
            let _ = writeln!(out, "{key}={v}");
        }
    }
    if o.delete {
        out.push_str("delete=1");
    }
    assert_eq!(
        SubscribeOptions::parse(&out),
        Ok(o),
        "re-written as {out:?}"
    );
}

/// The NATS rule, token by token: `*` one token, `>` one or more trailing tokens.
fn model(pattern: &[&str], subject: &[&str]) -> bool {
    match (pattern.split_first(), subject.split_first()) {
        (None, None) => true,
        (Some((&">", _)), Some(_)) => true,
        (Some((p, pr)), Some((s, sr))) => (*p == "*" || p == s) && model(pr, sr),
        _ => false,
    }
}

fn check_subjects(pattern: &str, subject: &str) {
    if check_subject(subject).is_ok() {
        assert!(subject.len() <= MAX_SUBJECT);
        let tokens: Vec<&str> = subject.split('.').collect();
        assert!(tokens.len() <= MAX_TOKENS);
        assert!(
            tokens
                .iter()
                .all(|t| !t.is_empty() && !t.contains(['*', '>']))
        );
        assert!(check_pattern(subject).is_ok(), "a subject is a pattern");
        assert!(matches(subject, subject));
        assert!(matches(">", subject));
        let stars = vec!["*"; tokens.len()].join(".");
        assert!(matches(&stars, subject), "{stars} matches {subject}");
        if check_pattern(pattern).is_ok() {
            let p: Vec<&str> = pattern.split('.').collect();
            assert_eq!(
                matches(pattern, subject),
                model(&p, &tokens),
                "{pattern} vs {subject}"
            );
        }
    }
    if check_pattern(pattern).is_ok() {
        let p: Vec<&str> = pattern.split('.').collect();
        for (i, t) in p.iter().enumerate() {
            assert!(*t == "*" || (*t == ">" && i + 1 == p.len()) || !t.contains(['*', '>']));
        }
    }
}
