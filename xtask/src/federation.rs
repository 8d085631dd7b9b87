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
use crate::nats::NatsServer;
use crate::qemu::{Boot, Network, free_port};

const STEP: Duration = Duration::from_secs(20);
const BOOT: Duration = Duration::from_secs(90);
/// How long a link may take to connect (DHCP, then the handshake, then JetStream's setup).
const LINK_UP: Duration = Duration::from_secs(30);

/// The login the suite's server requires of every client (nodes on all three transports and
/// the nats-py client); the bench's server requires none.
const LOGIN: &str = "zb:federation-suite";

/// A PC node `name` with its own fresh disks, reaching the server on `port` (as `login`);
/// `extra` boot arguments; its status page (port 80) on 127.0.0.1:`status`.
fn pc_node(
    t: &QemuTargets,
    name: &str,
    port: u16,
    login: Option<&str>,
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
            "node={name} nats={}{} {extra}",
            crate::cli::login_at(login),
            crate::qemu::NATS_GUEST
        )))
}

/// The STM32F4 node: its USART2 connected to the server on `port`, logging in as `login`.
fn board_node(t: &QemuTargets, port: u16, login: Option<&str>) -> Boot {
    t.boot(Platform::Stm32f4)
        .with_nats_serial(port)
        .with_boot_args(&format!(
            "node=board nats={}serial",
            crate::cli::login_at(login)
        ))
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

/// Waits until `nodes` on `m` lists node `name` up.
fn shows_up(m: &mut Machine, name: &str) -> StepResult {
    let prefix = format!("{name} ");
    wait_for(
        m,
        "nodes",
        |o| {
            o.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(" up "))
        },
        LINK_UP,
    )
    .map(|_| ())
}

/// Lines of `log`'s output for event `subject` with payload text `mark`.
fn count(out: &str, mark: &str) -> usize {
    out.lines().filter(|l| l.contains(mark)).count()
}

pub fn suite(t: &QemuTargets, _: Platform) -> StepResult {
    let server = NatsServer::scratch("test-nats", Some(LOGIN))?;
    // The server does require the login: a client without it is refused.
    let anonymous = crate::nats::client(server.ports.client, None, &["connect", "-"])?;
    if !anonymous.contains("refused") {
        return Err(format!(
            "x86_64/federation: the server let a client in without logging in: {anonymous}"
        ));
    }
    two_pcs(t, server.ports.client, server.ports.websocket)
}

/// Node `name` (booted, over `transport`) has caught up the event marked `catch_up`, and the
/// one it emits (marked `emits`) reaches PC `a`, which counts it up.
fn joins(
    m: &mut Machine,
    a: &mut Machine,
    name: &str,
    transport: &str,
    catch_up: &str,
    emits: &str,
) -> StepResult {
    wait_for(
        m,
        "link",
        |o| o.contains("state: up") && o.contains(&format!("transport: {transport}")),
        LINK_UP,
    )?;
    let caught = wait_for(m, "log sensor.temp", |o| o.contains(catch_up), LINK_UP);
    if let Err(e) = caught {
        return Err(format!("{e}\n{}", diagnose(m)));
    }
    m.check(
        &format!(r#"emit sensor.temp '{{"c":30,"mark":"{emits}"}}'"#),
        &[],
        STEP,
    )?;
    wait_for(
        a,
        "log sensor.temp",
        |o| o.contains(&format!(r#""mark":"{emits}"}} (from {name})"#)),
        LINK_UP,
    )?;
    shows_up(a, name)
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
    // With the scheme spelled out (a page served over https would say wss://).
    let boot = profile.with_url_query(&format!(
        "node=browser&nats=ws://{}127.0.0.1:{ws_port}",
        crate::cli::login_at(Some(LOGIN))
    ))?;
    let mut m = Machine::boot("x86_64/federation/browser", &boot)?;
    let banner = m.expect_prompt(BOOT)?;
    if !banner.contains("nats: node browser (browser)") {
        return m.fail(format!(
            "no federation line for the browser at boot: {banner:?}"
        ));
    }
    joins(
        &mut m,
        a,
        "browser",
        "websocket",
        "from-the-board",
        "from-the-tab",
    )?;
    shut_down(&mut m)?;
    drop(profile);
    Ok(())
}

fn two_pcs(t: &QemuTargets, port: u16, ws_port: u16) -> StepResult {
    let status = free_port()?;
    let login = Some(LOGIN);
    let boot_a = pc_node(t, "pc-a", port, login, "", status)?;
    // B alone answers svc.* requests.
    let boot_b = pc_node(
        t,
        "pc-b",
        port,
        login,
        "serve=svc.> capability=capability://svc.echo",
        free_port()?,
    )?;
    let mut a = boot_node("pc-a", &boot_a)?;
    let mut b = boot_node("pc-b", &boot_b)?;
    // Logged in (the server lets no one in without), and the password is not shown.
    let link = a.check("link", &["auth: user zb\n"], STEP)?;
    if link.contains("federation-suite") {
        return a.fail(format!("`link` shows the password: {link}"));
    }

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
        shows_up(m, "pc-a")?;
        shows_up(m, "pc-b")?;
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
    let mut board = boot_node("board", &board_node(t, port, login))?;
    joins(
        &mut board,
        &mut a,
        "board",
        "serial",
        "first",
        "from-the-board",
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
    // Through the resolver: B alone offers capability://svc.echo.
    a.check(
        r#"req svc.echo '{"n":4}' --cap svc.echo --timeout 2s"#,
        &[r#"{"n":4}"#],
        STEP,
    )?;
    // An ordinary NATS client (nats-py) sends a ledger command; one node serving it decides
    // it, and the client reads the outcome event that node exports.
    let outcome = crate::nats::client(
        port,
        login,
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
    shows_up(&mut a, "pc-b")?;
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

/// `cargo xtask bench`'s federation figures: an event emitted on one PC, delivered to a
/// subscriber on the other through NATS, beside the same emit→subscriber path on one node and
/// a `nats-py` publisher→subscriber pair on the same server, in the same run; and events/s
/// from a burst on one PC until the other's journal has them all. The JSON fragment.
pub fn bench(t: &QemuTargets) -> Result<String, String> {
    const LATENCY_ROUNDS: usize = 20;
    const BURST: usize = 300;
    let server = NatsServer::scratch("bench-nats", None)?;
    let ports = server.ports;
    let py = crate::nats::client(ports.client, None, &["bench", "2000"])?;
    let py_rate = crate::harness::json_number(&py, "events_per_s").unwrap_or(0.0);
    let py_latency = crate::harness::json_number(&py, "latency_us_p50").unwrap_or(0.0);

    let boot_a = pc_node(
        t,
        "pc-a",
        ports.client,
        None,
        "export=bench.> request=rq.>",
        free_port()?,
    )?;
    let boot_b = pc_node(
        t,
        "pc-b",
        ports.client,
        None,
        "import=bench.> serve=rq.>",
        free_port()?,
    )?;
    let mut a = boot_node("pc-a", &boot_a)?;
    let mut b = boot_node("pc-b", &boot_b)?;
    shows_up(&mut a, "pc-b")?;

    // Local: A's own subscriber (a second shell is not there: the emit runs in the background).
    a.type_bytes(b"run sub bench.local &\r")?;
    a.expect_prompt(STEP)?;
    let mut local = Vec::new();
    for i in 0..LATENCY_ROUNDS {
        let start = Instant::now();
        a.type_bytes(format!("emit bench.local '{{\"local\":{i}}}'\r").as_bytes())?;
        a.expect(&format!("\"local\":{i}}}"), STEP)?;
        local.push(start.elapsed().as_secs_f64() * 1000.0);
        a.expect_prompt(STEP)?;
    }
    // Across: B's subscriber in the foreground.
    b.type_bytes(b"sub bench.across\r")?;
    std::thread::sleep(Duration::from_millis(300));
    let mut across = Vec::new();
    for i in 0..LATENCY_ROUNDS {
        let start = Instant::now();
        a.type_bytes(format!("emit bench.across '{{\"across\":{i}}}'\r").as_bytes())?;
        if let Err(e) = b.expect(&format!("\"across\":{i}}}"), STEP) {
            b.type_bytes(&[3])?;
            let _ = b.expect_prompt(STEP);
            return Err(format!("{e}\n{}\n{}", diagnose(&mut a), diagnose(&mut b)));
        }
        across.push(start.elapsed().as_secs_f64() * 1000.0);
        a.expect_prompt(STEP)?;
    }
    b.type_bytes(&[3])?;
    b.expect_prompt(STEP)?;

    // A request answered on the other node (NATS core, no JetStream): the round trip.
    b.check("run req --serve 'rq.>' &", &["] "], STEP)?;
    let mut round_trip = Vec::new();
    for i in 0..LATENCY_ROUNDS {
        let start = Instant::now();
        a.check(
            &format!(r#"req rq.echo '{{"rt":{i}}}' --timeout 5s"#),
            &[&format!(r#"{{"rt":{i}}}"#)],
            STEP,
        )?;
        round_trip.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    // Throughput: a burst on A, until B has imported every event.
    let imported = |m: &mut Machine| -> Result<u64, String> {
        let out = m.command("link", STEP)?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_prefix("imported: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    };
    let before = imported(&mut b)?;
    let start = Instant::now();
    a.type_bytes(format!("emit --burst bench.burst {BURST}\r").as_bytes())?;
    let mut burst_local_s = 0.0;
    loop {
        if burst_local_s == 0.0 {
            let seen = a.transcript();
            if seen.contains(&format!("i={}", BURST - 1)) {
                burst_local_s = start.elapsed().as_secs_f64();
            }
        }
        if imported(&mut b)? >= before + BURST as u64 {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            return b.fail("the burst did not arrive within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let across_s = start.elapsed().as_secs_f64();
    let _ = a.expect_prompt(STEP);
    drop(a);
    drop(b);
    drop(server);

    let (lo, ac, rt) = (median(&local), median(&across), median(&round_trip));
    let rate = BURST as f64 / across_s;
    let local_rate = if burst_local_s > 0.0 {
        BURST as f64 / burst_local_s
    } else {
        0.0
    };
    println!(
        "\nfederation (two PCs in QEMU, nats-server 2.9 on 127.0.0.1; median of {LATENCY_ROUNDS})"
    );
    println!("  emit → subscriber, same node:      {lo:>8.2} ms");
    println!(
        "  emit → subscriber, other node:     {ac:>8.2} ms  ({:.2}× the same node's)",
        ac / lo.max(0.001)
    );
    println!(
        "  nats-py publisher → subscriber:    {:>8.3} ms",
        py_latency / 1000.0
    );
    println!("  req answered on the other node:    {rt:>8.2} ms (round trip)");
    println!(
        "  burst of {BURST}: emitted at {local_rate:.0}/s, in the other node's journal at {rate:.0}/s; nats-py pair {py_rate:.0}/s ({:.4}×)",
        rate / py_rate.max(1.0)
    );
    Ok(format!(
        ",\n  \"federation\": {{\"latency_rounds\": {LATENCY_ROUNDS}, \"emit_to_sub_same_node_ms\": {lo:.3}, \"emit_to_sub_other_node_ms\": {ac:.3}, \"req_round_trip_other_node_ms\": {rt:.3}, \"nats_py_pair_latency_ms\": {:.4}, \"burst\": {BURST}, \"burst_emitted_per_s\": {local_rate:.1}, \"burst_imported_per_s\": {rate:.1}, \"nats_py_pair_per_s\": {py_rate:.1}}}",
        py_latency / 1000.0
    ))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}
