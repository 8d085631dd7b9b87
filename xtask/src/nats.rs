//! A local NATS server for federation (`cargo xtask nats`, and the integration tests): Debian's
//! `nats-server` (installed when missing), on 127.0.0.1 only, with JetStream (for
//! at-least-once delivery and catching up) and the websocket listener the browser node needs.
//!
//! The server runs as it is — configured by a file written here, never patched — with its
//! JetStream store under `target/zerobus/nats/` (or a test's own directory).

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a server listens (all on 127.0.0.1).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub client: u16,
    pub websocket: u16,
    /// The monitoring endpoint (`/varz`, `/jsz`).
    pub monitor: u16,
}

/// A running nats-server; stopped when dropped (and its scratch directory removed, if it has
/// one: [`NatsServer::scratch`]).
pub struct NatsServer {
    child: Child,
    pub ports: Ports,
    scratch: Option<PathBuf>,
}

/// The configuration file for `ports` with its JetStream store in `dir`; with `user`
/// (`USER:PASS`), every client (the websocket's too) must log in as that user.
fn config(ports: &Ports, dir: &Path, user: Option<&str>) -> String {
    let auth = user
        .and_then(|u| u.split_once(':'))
        .map_or(String::new(), |(user, pass)| {
            format!(
                "authorization {{\n  users = [ {{ user: {}, password: {} }} ]\n}}\n",
                quoted(user),
                quoted(pass)
            )
        });
    auth + &format!(
        "# Written by cargo xtask (xtask/src/nats.rs).\n\
         server_name: zb-local\n\
         listen: 127.0.0.1:{client}\n\
         http: 127.0.0.1:{monitor}\n\
         jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n\
         websocket {{\n  listen: \"127.0.0.1:{ws}\"\n  no_tls: true\n}}\n",
        client = ports.client,
        monitor = ports.monitor,
        ws = ports.websocket,
        store = dir.join("jetstream").display()
    )
}

/// `s` as a string in nats-server's configuration language (JSON's escapes).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl NatsServer {
    /// Starts a server on `ports` with its files in `dir` (and, with `user`, requiring that
    /// login); returns once it accepts clients.
    pub fn start(ports: Ports, dir: &Path, user: Option<&str>) -> Result<NatsServer, String> {
        crate::env::ensure_apt("nats-server", &["nats-server"])?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("nats.conf");
        std::fs::File::create(&conf)
            .and_then(|mut f| f.write_all(config(&ports, dir, user).as_bytes()))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start nats-server: {e}"))?;
        let mut server = NatsServer {
            child,
            ports,
            scratch: None,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", ports.client)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "nats-server exited at start ({status}); see its log above"
                ));
            }
            if Instant::now() > deadline {
                return Err("nats-server did not start listening within 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The monitoring port answers once the server (JetStream included) is ready.
        let _ = server.wait_monitor(deadline);
        Ok(server)
    }

    fn wait_monitor(&mut self, deadline: Instant) -> Result<(), String> {
        while TcpStream::connect(("127.0.0.1", self.ports.monitor)).is_err() {
            if Instant::now() > deadline {
                return Err("the monitoring port did not open".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl NatsServer {
    /// A server on free ports with its files in a new directory under `target/zerobus/`
    /// named after `name` and this process, removed when the server is dropped (tests, bench);
    /// `user` as for [`NatsServer::start`].
    pub fn scratch(name: &str, user: Option<&str>) -> Result<NatsServer, String> {
        let dir =
            crate::artifacts::target_dir().join(format!("zerobus/{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let free = crate::qemu::free_port;
        let ports = Ports {
            client: free()?,
            websocket: free()?,
            monitor: free()?,
        };
        let mut server = NatsServer::start(ports, &dir, user)?;
        server.scratch = Some(dir);
        Ok(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `cargo xtask nats [--port N] [--user USER:PASS]`: a server for nodes on this machine,
/// until Ctrl-C.
pub fn run(port: u16, user: Option<&str>) -> Result<(), String> {
    let ports = Ports {
        client: port,
        websocket: port.wrapping_add(1),
        monitor: 8222,
    };
    let dir: PathBuf = crate::artifacts::target_dir().join("zerobus/nats");
    let mut server = NatsServer::start(ports, &dir, user)?;
    if let Some((name, _)) = user.and_then(|u| u.split_once(':')) {
        println!(
            "xtask: clients log in as {name} (nodes: cargo xtask run --nats {name}:PASS@127.0.0.1:{})",
            ports.client
        );
    }
    println!(
        "xtask: nats-server on nats://127.0.0.1:{} (JetStream in {}), websocket ws://127.0.0.1:{}, monitoring http://127.0.0.1:{}/varz\n       Ctrl-C stops it",
        ports.client,
        dir.join("jetstream").display(),
        ports.websocket,
        ports.monitor
    );
    let status = server
        .child
        .wait()
        .map_err(|e| format!("waiting for nats-server: {e}"))?;
    Err(format!("nats-server exited: {status}"))
}

/// Joins stdin/stdout to a TCP connection to `server` until either side ends: the program QEMU
/// starts for each connection a PC node opens to nats-server (`qemu::Network::nats`). Only
/// 127.0.0.1 is reached: the forward is for a local server.
pub fn relay(server: &str) -> Result<(), String> {
    let (host, _) = server
        .rsplit_once(':')
        .ok_or_else(|| format!("relay {server}: expected HOST:PORT"))?;
    if host != "127.0.0.1" && host != "localhost" {
        return Err(format!("relay {server}: only 127.0.0.1 is reached"));
    }
    let stream = TcpStream::connect(server).map_err(|e| format!("relay {server}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut from_server = stream
        .try_clone()
        .map_err(|e| format!("relay {server}: {e}"))?;
    let mut to_server = stream;
    let down = std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        let mut buf = [0u8; 16 << 10];
        loop {
            match std::io::Read::read(&mut from_server, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut input = std::io::stdin().lock();
    let mut buf = [0u8; 16 << 10];
    loop {
        match std::io::Read::read(&mut input, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_server.shutdown(std::net::Shutdown::Both);
    let _ = down.join();
    Ok(())
}

/// The Python that has nats-py (`xtask/federation/requirements.txt`): a virtual environment in
/// `target/zerobus/py`, made (and the package installed from PyPI) when missing or when the
/// requirements changed.
pub fn python() -> Result<PathBuf, String> {
    let root = crate::artifacts::root();
    let requirements = root.join("xtask/federation/requirements.txt");
    let venv = crate::artifacts::target_dir().join("zerobus/py");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.txt");
    let wanted =
        std::fs::read(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    if python.is_file() && std::fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(python);
    }
    if !venv.join("bin/python").is_file() {
        crate::env::ensure_apt("python3", &["python3", "python3-venv"])?;
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "cannot make a Python virtual environment in {} (Debian: apt-get install python3-venv)",
                venv.display()
            ));
        }
    }
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("pip could not install nats-py (xtask/federation/requirements.txt)".into());
    }
    std::fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(python)
}

/// Runs `xtask/federation/client.py` against the server on `port` (logging in with `user`,
/// `USER:PASS`, if given) with `args`; its stdout.
pub fn client(port: u16, user: Option<&str>, args: &[&str]) -> Result<String, String> {
    let python = python()?;
    let script = crate::artifacts::root().join("xtask/federation/client.py");
    let login = user.map_or(String::new(), |u| format!("{u}@"));
    let out = Command::new(python)
        .arg(script)
        .arg(format!("nats://{login}127.0.0.1:{port}"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the Python client: {e}"))?;
    if !out.status.success() {
        return Err(format!("the Python client failed ({})", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_listens_on_loopback_only() {
        let ports = Ports {
            client: 4222,
            websocket: 4223,
            monitor: 8222,
        };
        let conf = config(&ports, Path::new("/tmp/zb"), None);
        for line in conf
            .lines()
            .filter(|l| l.contains("listen") || l.starts_with("http"))
        {
            assert!(line.contains("127.0.0.1:"), "{line}");
        }
        assert!(conf.contains("store_dir: \"/tmp/zb/jetstream\""));
        assert!(conf.contains("no_tls: true"));
    }
}
