//! Fuzz target `init_manifest`: init's manifest parser (`zb_init::Manifest::parse_bytes`),
//! which reads `/etc/init.manifest` from the boot image.
//!
//! The input is the manifest's bytes. Beyond "never panics" it asserts:
//! - an error names a line of the input (1 to the number of lines);
//! - a parsed manifest keeps every documented limit (names, entries, arguments, grants,
//!   memory, backoff and rate-limit ranges, restart rules);
//! - writing the parsed manifest back out in the manifest syntax (arguments quoted, durations
//!   as `Micros` displays them) and parsing that gives the same manifest (up to line numbers).
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use zb_init::manifest::{
    MAX_ARG_LEN, MAX_ARGS, MAX_BACKOFF_US, MAX_ENTRIES, MAX_GRANT_LEN, MAX_GRANTS,
    MAX_LIMIT_RESTARTS, MAX_MEMORY, MAX_NAME, MAX_PATTERN, MAX_WINDOW_US, MIN_BACKOFF_US,
    MIN_MEMORY, MIN_WINDOW_US,
};
use zb_init::restart::{Micros, RestartMode};
use zb_init::{Manifest, RunSpec};

fuzz_target!(|data: &[u8]| {
    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    let manifest = match Manifest::parse_bytes(data) {
        Ok(m) => m,
        Err(e) => {
            assert!(
                (1..=lines).contains(&e.line),
                "line {} of {lines}: {}",
                e.line,
                e.message
            );
            return;
        }
    };
    check_limits(&manifest);
    let text = write(&manifest);
    let mut again = Manifest::parse(&text)
        .unwrap_or_else(|e| panic!("the re-written manifest is refused: {e}\n{text}"));
    let mut want = manifest;
    for run in want.runs.iter_mut().chain(again.runs.iter_mut()) {
        run.line = 0;
    }
    assert_eq!(again, want, "re-written as\n{text}");
});

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_limits(m: &Manifest) {
    assert!(m.services.len() + m.runs.len() <= MAX_ENTRIES);
    for (i, s) in m.services.iter().enumerate() {
        assert!(valid_name(s), "{s:?}");
        assert!(!m.services[..i].contains(s), "service {s} twice");
    }
    for (i, r) in m.runs.iter().enumerate() {
        assert!(valid_name(&r.name), "{:?}", r.name);
        assert!(
            m.runs[..i].iter().all(|o| o.name != r.name),
            "run {} twice",
            r.name
        );
        assert!(r.args.len() <= MAX_ARGS);
        assert!(r.args.iter().all(|a| a.len() <= MAX_ARG_LEN));
        assert!(r.grants.len() <= MAX_GRANTS);
        for (j, g) in r.grants.iter().enumerate() {
            assert!(g.len() <= MAX_GRANT_LEN && g.bytes().all(|b| b.is_ascii_graphic()));
            assert!(g.contains("://") && !r.grants[..j].contains(g));
        }
        if let Some(mem) = r.memory {
            assert!((MIN_MEMORY..=MAX_MEMORY).contains(&mem));
        }
        for p in &r.platforms {
            assert!(matches!(p.as_str(), "x86_64" | "stm32f4" | "web"));
        }
        if let Some(p) = &r.start_on {
            assert!(p.len() <= MAX_PATTERN && !p.is_empty());
            assert!(r.restart.mode != RestartMode::Always);
        }
        let b = r.restart.backoff;
        assert!(MIN_BACKOFF_US <= b.initial_us && b.initial_us <= b.max_us);
        assert!(b.max_us <= MAX_BACKOFF_US);
        let l = r.restart.limit;
        assert!((1..=MAX_LIMIT_RESTARTS).contains(&l.restarts));
        assert!((MIN_WINDOW_US..=MAX_WINDOW_US).contains(&l.window_us));
    }
}

/// An argument as the manifest quotes it: `"…"` with `\"` and `\\`.
fn quoted(arg: &str) -> String {
    let mut q = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn write_run(out: &mut String, r: &RunSpec) {
    let _ = writeln!(out, "run {}", r.name);
    if !r.args.is_empty() {
        let args: Vec<String> = r.args.iter().map(|a| quoted(a)).collect();
        let _ = writeln!(out, "  args {}", args.join(" "));
    }
    for g in &r.grants {
        let _ = writeln!(out, "\tallow {g}");
    }
    if let Some(mem) = r.memory {
        let _ = writeln!(out, "  memory {mem}");
    }
    if !r.platforms.is_empty() {
        let _ = writeln!(out, "  platform {}", r.platforms.join(" "));
    }
    if let Some(p) = &r.start_on {
        let _ = writeln!(out, "  start-on {p}");
    }
    if r.restart.mode != RestartMode::Never {
        let p = r.restart;
        let _ = writeln!(out, "  restart {}", p.mode);
        let _ = writeln!(
            out,
            "  backoff {}..{}",
            Micros(p.backoff.initial_us),
            Micros(p.backoff.max_us)
        );
        let _ = writeln!(
            out,
            "  limit {} per {}",
            p.limit.restarts,
            Micros(p.limit.window_us)
        );
    }
}

fn write(m: &Manifest) -> String {
    let mut out = String::from("# re-written\r\n");
    for s in &m.services {
        let _ = writeln!(out, "service {s}");
    }
    for r in &m.runs {
        write_run(&mut out, r);
        out.push('\n');
    }
    out
}
