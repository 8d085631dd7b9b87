//! The federation suite (`x86_64/federation` in `cargo xtask test`): real nodes joined through
//! a real nats-server on 127.0.0.1 — two PCs in QEMU — driven through their shells.
//!
//! What it shows, as a user would see it: an event emitted on one node is in the other's
//! journal with its origin; `nodes` and `resolve` follow a node going down (after its TTL) and
//! coming back; a node killed while the other emits catches up when it boots again, with
//! nothing lost or doubled.

use std::time::{Duration, Instant};

use crate::artifacts::QemuTargets;
use crate::cli::Platform;
use crate::harness::{Machine, StepResult};
use crate::nats::{NatsServer, Ports};
use crate::qemu::{Boot, Network, free_port};

const STEP: Duration = Duration::from_secs(20);
const BOOT: Duration = Duration::from_secs(90);
/// How long a link may take to connect (DHCP, then the handshake, then JetStream's setup).
const LINK_UP: Duration = Duration::from_secs(30);

/// A PC node `name` with its own fresh disks, reaching the server on `port`; `extra` boot
/// arguments; its status page (port 80) on 127.0.0.1:`status`.
fn pc_node(
    t: &QemuTargets,
    name: &str,
    port: u16,
    extra: &str,
    status: u16,
) -> Result<Boot, String> {
    let net = Network {
        nats: Some(format!("127.0.0.1:{port}")),
        hostfwd: vec![(status, 80)],
        ..Default::default()
    };
    Ok(t.boot(Platform::X86_64)
        .with_fresh_disk(&format!("federation-{name}"))?
        .with_network(&net)
        .with_boot_args(&format!(
            "node={name} nats={} {extra}",
            crate::qemu::NATS_GUEST
        )))
}

/// The STM32F4 node: its USART2 connected to the server on `port`.
fn board_node(t: &QemuTargets, port: u16) -> Boot {
    t.boot(Platform::Stm32f4)
        .with_nats_serial(port)
        .with_boot_args("node=board nats=serial")
}

/// Boots `boot` and waits for its link to be up.
fn boot_node(name: &str, boot: &Boot) -> StepResult<Machine> {
    let mut m = Machine::boot(&format!("x86_64/federation/{name}"), boot)?;
    let banner = m.expect_prompt(BOOT)?;
    if !banner.contains(&format!("nats: node {name} (member)")) {
        return m.fail(format!("no federation line for {name} at boot: {banner:?}"));
    }
    wait_for(&mut m, "link", |o| o.contains("state: up"), LINK_UP)?;
    Ok(m)
}

/// Runs `line` until `done` holds for its output (or `limit` passes); the last output.
fn wait_for(
    m: &mut Machine,
    line: &str,
    done: impl Fn(&str) -> bool,
    limit: Duration,
) -> StepResult<String> {
    let start = Instant::now();
    loop {
        let out = m.command(line, STEP)?;
        if done(&out) {
            return Ok(out);
        }
        if start.elapsed() > limit {
            return m.fail(format!("`{line}` never showed what was expected: {out:?}"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The link's state and the system log, for a failure's report.
fn diagnose(m: &mut Machine) -> String {
    let link = m.command("link", STEP).unwrap_or_default();
    let log = m.command("dmesg", STEP).unwrap_or_default();
    let all = m.transcript();
    let tail: String = all
        .chars()
        .rev()
        .take(3000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("--- link\n{link}\n--- dmesg\n{log}\n--- transcript's end\n{tail}")
}

/// Shuts a node down from its shell.
fn shut_down(m: &mut Machine) -> StepResult {
    m.type_bytes(b"shutdown\r")?;
    let outcome = m.wait_exit(STEP)?;
    if !outcome.success() {
        return m.fail(format!("shutdown ended with {outcome}"));
    }
    Ok(())
}

/// Lines of `log`'s output for event `subject` with payload text `mark`.
fn count(out: &str, mark: &str) -> usize {
    out.lines().filter(|l| l.contains(mark)).count()
}

pub fn suite(t: &QemuTargets, _: Platform) -> StepResult {
    let dir =
        crate::artifacts::target_dir().join(format!("zerobus/test-nats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports = Ports {
        client: free_port()?,
        websocket: free_port()?,
        monitor: free_port()?,
    };
    let server = NatsServer::start(ports, &dir)?;
    let result = two_pcs(t, ports.client, ports.websocket);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The browser node (when the page was built: `cargo xtask test` builds it for this suite).
fn browser(t: &QemuTargets, ws_port: u16, a: &mut Machine) -> StepResult {
    if t.web.is_none() {
        println!("x86_64/federation: no browser page built, the browser node is skipped");
        return Ok(());
    }
    let profile = t
        .boot(Platform::Web)
        .with_fresh_disk("federation-browser")?;
    let boot = profile.with_url_query(&format!("node=browser&nats=127.0.0.1:{ws_port}"))?;
    let mut m = Machine::boot("x86_64/federation/browser", &boot)?;
    let banner = m.expect_prompt(BOOT)?;
    if !banner.contains("nats: node browser (browser)") {
        return m.fail(format!(
            "no federation line for the browser at boot: {banner:?}"
        ));
    }
    wait_for(
        &mut m,
        "link",
        |o| o.contains("state: up") && o.contains("transport: websocket"),
        LINK_UP,
    )?;
    let caught = wait_for(
        &mut m,
        "log sensor.temp",
        |o| o.contains("from-the-board"),
        LINK_UP,
    );
    if let Err(e) = caught {
        return Err(format!("{e}\n{}", diagnose(&mut m)));
    }
    m.check(
        r#"emit sensor.temp '{"c":22,"mark":"from-the-tab"}'"#,
        &[],
        STEP,
    )?;
    wait_for(
        a,
        "log sensor.temp",
        |o| o.contains(r#""mark":"from-the-tab"} (from browser)"#),
        LINK_UP,
    )?;
    wait_for(
        a,
        "nodes",
        |o| {
            o.lines()
                .any(|l| l.starts_with("browser ") && l.contains(" browser ") && l.contains(" up "))
        },
        LINK_UP,
    )?;
    shut_down(&mut m)?;
    drop(profile);
    Ok(())
}

fn two_pcs(t: &QemuTargets, port: u16, ws_port: u16) -> StepResult {
    let status = free_port()?;
    let boot_a = pc_node(t, "pc-a", port, "", status)?;
    // B alone answers svc.* requests.
    let boot_b = pc_node(t, "pc-b", port, "serve=svc.>", free_port()?)?;
    let mut a = boot_node("pc-a", &boot_a)?;
    let mut b = boot_node("pc-b", &boot_b)?;

    // An event emitted on A is in B's journal, with A as its origin.
    a.check(r#"emit sensor.temp '{"c":21,"mark":"first"}'"#, &[], STEP)?;
    let seen = match wait_for(&mut b, "log sensor.temp", |o| o.contains("first"), LINK_UP) {
        Ok(seen) => seen,
        Err(e) => return Err(format!("{e}\n{}\n{}", diagnose(&mut a), diagnose(&mut b))),
    };
    if !seen.contains("sensor.temp {\"c\":21,\"mark\":\"first\"} (from pc-a)") {
        return b.fail(format!(
            "the imported event does not name its origin: {seen:?}"
        ));
    }
    // And in B's views: A's deposit is in B's balances.
    a.check(
        r#"emit ledger.deposited '{"account":"alice","amount":10}'"#,
        &[],
        STEP,
    )?;
    wait_for(
        &mut b,
        "scan ledger.balances alice",
        |o| o.contains(r#"{"account":"alice","balance":10}"#),
        LINK_UP,
    )?;

    // Presence: each sees both up; a capability both offer resolves to the smaller id.
    for m in [&mut a, &mut b] {
        wait_for(
            m,
            "nodes",
            |o| {
                o.lines()
                    .any(|l| l.starts_with("pc-a ") && l.contains(" up "))
                    && o.lines()
                        .any(|l| l.starts_with("pc-b ") && l.contains(" up "))
            },
            LINK_UP,
        )?;
    }
    a.check(
        "caps",
        &["capability://ledger.transfer", "pc-a", "pc-b"],
        STEP,
    )?;
    // Both offer it alike; the chosen one is the best scored (load can differ for a moment).
    let resolved = a.check(
        "resolve ledger.transfer",
        &["pc-a up score", "pc-b up score"],
        STEP,
    )?;
    let chosen = resolved.lines().next().and_then(|l| l.split("-> ").nth(1));
    let best = resolved
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next());
    if chosen.is_none() || chosen != best {
        return a.fail(format!(
            "resolve did not choose the best score: {resolved:?}"
        ));
    }
    a.check(
        "resolve ledger.transfer node:pc-b",
        &["capability://ledger.transfer -> pc-b"],
        STEP,
    )?;

    // The board joins over its serial line: it catches up what was emitted before it booted,
    // and what it emits reaches the PCs.
    let mut board = boot_node("board", &board_node(t, port))?;
    let link = board.check("link", &["transport: serial"], STEP)?;
    let caught = wait_for(
        &mut board,
        "log sensor.temp",
        |o| o.contains("first"),
        LINK_UP,
    );
    if let Err(e) = caught {
        return Err(format!("{e}\n{link}\n{}", diagnose(&mut board)));
    }
    board.check(
        r#"emit sensor.temp '{"c":30,"mark":"from-the-board"}'"#,
        &[],
        STEP,
    )?;
    wait_for(
        &mut a,
        "log sensor.temp",
        |o| o.contains(r#""mark":"from-the-board"} (from board)"#),
        LINK_UP,
    )?;
    wait_for(
        &mut a,
        "nodes",
        |o| {
            o.lines()
                .any(|l| l.starts_with("board ") && l.contains(" up "))
        },
        LINK_UP,
    )?;
    shut_down(&mut board)?;

    // A browser tab joins over a WebSocket to the server's websocket listener.
    browser(t, ws_port, &mut a)?;

    // Requests across nodes: A asks, B's responder answers (through the queue group, and
    // addressed to B).
    b.check("run req --serve 'svc.>' &", &["] "], STEP)?;
    let asked = wait_for(
        &mut a,
        r#"req svc.echo '{"n":1}' --timeout 2s"#,
        |o| o.contains(r#"{"n":1}"#),
        LINK_UP,
    );
    if let Err(e) = asked {
        return Err(format!("{e}\n{}\n{}", diagnose(&mut a), diagnose(&mut b)));
    }
    a.check(
        r#"req svc.echo '{"n":2}' --to pc-b --timeout 2s"#,
        &[r#"{"n":2}"#],
        STEP,
    )?;
    a.check(
        r#"req svc.echo '{"n":3}' --to pc-a --timeout 300ms"#,
        &["req: timed out"],
        STEP,
    )?;
    // An ordinary NATS client (nats-py) sends a ledger command; one node serving it decides
    // it, and the client reads the outcome event that node exports.
    let outcome = crate::nats::client(
        port,
        &["command", r#"{"from":"alice","to":"bob","amount":4}"#],
    )?;
    for want in [
        r#""subject": "zb.ev.ledger.transfer.completed""#,
        r#""Zb-Origin": "pc-"#,
        r#""payload": {"from": "alice", "to": "bob", "amount": 4}"#,
    ] {
        if !outcome.contains(want) {
            return a.fail(format!(
                "the Python client's outcome lacks {want}: {outcome}"
            ));
        }
    }
    // Both views agree: the outcome was imported by the other node.
    for m in [&mut a, &mut b] {
        wait_for(
            m,
            "scan ledger.balances bob",
            |o| o.contains(r#"{"account":"bob","balance":4}"#),
            LINK_UP,
        )?;
    }

    // B is killed (no goodbye); A keeps emitting. B goes down on A after its TTL, and
    // `resolve` with B preferred falls back to A.
    drop(b);
    for i in 0..3 {
        a.check(
            &format!(r#"emit sensor.temp '{{"c":{i},"mark":"while-away-{i}"}}'"#),
            &[],
            STEP,
        )?;
    }
    wait_for(
        &mut a,
        "nodes",
        |o| {
            o.lines()
                .any(|l| l.starts_with("pc-b ") && l.contains(" down "))
        },
        Duration::from_secs(30),
    )?;
    a.check(
        "resolve ledger.transfer node:pc-b",
        &["capability://ledger.transfer -> pc-a", "pc-b down"],
        STEP,
    )?;

    // B boots again on its own disks: it catches up what it missed, once each.
    let mut b = boot_node("pc-b", &boot_b)?;
    let caught = wait_for(
        &mut b,
        "log sensor.temp",
        |o| o.contains("while-away-2"),
        LINK_UP,
    )?;
    for mark in ["first", "while-away-0", "while-away-1", "while-away-2"] {
        if count(&caught, mark) != 1 {
            return b.fail(format!(
                "{mark} is not in the journal exactly once: {caught:?}"
            ));
        }
    }
    wait_for(
        &mut a,
        "nodes",
        |o| {
            o.lines()
                .any(|l| l.starts_with("pc-b ") && l.contains(" up "))
        },
        LINK_UP,
    )?;
    a.check(
        "resolve ledger.transfer node:pc-b",
        &["capability://ledger.transfer -> pc-b"],
        STEP,
    )?;
    // The link's counters.
    let link = a.check("link", &["state: up", "node: pc-a", "connected: 1"], STEP)?;
    if !link
        .lines()
        .any(|l| l.starts_with("exported: ") && l != "exported: 0")
    {
        return a.fail(format!("the link exported nothing: {link:?}"));
    }
    Ok(())
}
