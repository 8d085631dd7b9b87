//! Command-line parsing (hand-written: a dozen flags do not need a dependency).

use crate::artifacts::BuildOpts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    X86_64,
    Stm32f4,
    /// wasm32 in a browser tab (a Web Worker), driven by headless Chromium in tests.
    Web,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::X86_64 => "x86_64",
            Platform::Stm32f4 => "stm32f4",
            Platform::Web => "web",
        }
    }
}

#[derive(Debug)]
pub struct Args {
    pub command: String,
    pub platform: Platform,
    pub uefi: bool,
    /// `--disk PATH`: the x86_64 data disk for `run` (default `target/zerobus/data.img`).
    pub disk: Option<std::path::PathBuf>,
    pub debug: bool,
    pub chip: String,
    pub no_flash: bool,
    pub boots: usize,
    pub only: Option<String>,
    /// `test --no-unit`: skip the host unit tests (QEMU suites only).
    pub no_unit: bool,
    /// `test --no-fuzz`: skip the parser fuzzing step.
    pub no_fuzz: bool,
    /// `fuzz --target NAME`: one fuzz target (default: every one).
    pub fuzz_target: Option<String>,
    /// `fuzz --time S`: seconds per fuzz target.
    pub fuzz_secs: u64,
    /// `fuzz --seed N`: libFuzzer's random seed.
    pub seed: Option<u64>,
    /// `fuzz --jobs N`: fuzz targets run side by side.
    pub jobs: usize,
    /// `fuzz --small`: the syscall fuzzer in board mode (the STM32F4's limits and heap).
    pub small: bool,
    /// `run --platform web --port N`: where the page is served (127.0.0.1).
    pub port: u16,
    /// `run --platform web --screenshot FILE`.
    pub screenshot: Option<std::path::PathBuf>,
    /// `run --nats [CREDENTIALS@]HOST:PORT`: the nats-server the node's federation link
    /// reaches (the address alone).
    pub nats: Option<String>,
    /// What came before the `@` of `--nats` (`USER:PASS` or a token), for the node to send;
    /// `nats --user USER:PASS`: the user the local server requires.
    pub nats_credentials: Option<String>,
    /// `run --node NAME`: the node id (else `/etc/federation`'s, else the platform's).
    pub node: Option<String>,
    /// `relay HOST:PORT` (QEMU's per-connection forward to nats-server).
    pub relay_to: Option<String>,
}

impl Args {
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            command: it.next().unwrap_or_else(|| "help".into()),
            platform: Platform::X86_64,
            uefi: false,
            disk: None,
            debug: false,
            chip: "STM32F405RGTx".into(),
            no_flash: false,
            boots: 5,
            only: None,
            no_unit: false,
            no_fuzz: false,
            fuzz_target: None,
            fuzz_secs: crate::fuzz::DEFAULT_SECS,
            seed: None,
            jobs: 1,
            small: false,
            port: 8080,
            screenshot: None,
            nats: None,
            nats_credentials: None,
            node: None,
            relay_to: None,
        };
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--platform" => {
                    args.platform = match value("--platform")?.as_str() {
                        "x86_64" | "x86" | "pc" => Platform::X86_64,
                        "stm32f4" | "stm32" => Platform::Stm32f4,
                        "web" | "browser" => Platform::Web,
                        p => {
                            return Err(format!("unknown platform `{p}` (x86_64, stm32f4 or web)"));
                        }
                    }
                }
                "--uefi" => args.uefi = true,
                "--disk" => args.disk = Some(value("--disk")?.into()),
                "--debug" => args.debug = true,
                "--release" => args.debug = false,
                "--chip" => args.chip = value("--chip")?,
                "--no-flash" => args.no_flash = true,
                "--boots" => {
                    args.boots = value("--boots")?
                        .parse()
                        .map_err(|_| "--boots needs a number".to_string())?;
                    if args.boots == 0 {
                        return Err("--boots must be at least 1".into());
                    }
                }
                "--only" => args.only = Some(value("--only")?),
                "--no-unit" => args.no_unit = true,
                "--no-fuzz" => args.no_fuzz = true,
                "--small" => args.small = true,
                "--port" => {
                    args.port = value("--port")?
                        .parse()
                        .map_err(|_| "--port needs a port number".to_string())?
                }
                "--screenshot" => args.screenshot = Some(value("--screenshot")?.into()),
                "--nats" => {
                    let v = value("--nats")?;
                    let (credentials, addr) = match v.rsplit_once('@') {
                        Some((c, a)) => (Some(c), a),
                        None => (None, v.as_str()),
                    };
                    if !is_host_port(addr) || credentials.is_some_and(|c| !credentials_ok(c)) {
                        return Err(format!(
                            "--nats {v}: expected [USER:PASS@|TOKEN@]HOST:PORT (e.g. 127.0.0.1:4222)"
                        ));
                    }
                    args.nats_credentials = credentials.map(String::from);
                    args.nats = Some(addr.into());
                }
                "--user" => {
                    let v = value("--user")?;
                    if !v.contains(':') || !credentials_ok(&v) {
                        return Err(format!("--user {v}: expected USER:PASS"));
                    }
                    args.nats_credentials = Some(v);
                }
                "--node" => {
                    let v = value("--node")?;
                    if !is_node_id(&v) {
                        return Err(format!(
                            "--node {v}: a node id is a-z, 0-9 and - (at most 32)"
                        ));
                    }
                    args.node = Some(v);
                }
                "--target" => args.fuzz_target = Some(value("--target")?),
                "--time" => {
                    args.fuzz_secs = value("--time")?
                        .parse()
                        .map_err(|_| "--time needs a number of seconds".to_string())?;
                    if args.fuzz_secs == 0 {
                        return Err("--time must be at least 1 second".into());
                    }
                }
                "--seed" => {
                    args.seed = Some(
                        value("--seed")?
                            .parse()
                            .map_err(|_| "--seed needs a number".to_string())?,
                    )
                }
                "--jobs" => {
                    args.jobs = value("--jobs")?
                        .parse()
                        .map_err(|_| "--jobs needs a number".to_string())?;
                    if args.jobs == 0 {
                        return Err("--jobs must be at least 1".into());
                    }
                }
                other if args.command == "relay" && args.relay_to.is_none() => {
                    args.relay_to = Some(other.to_string())
                }
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        if args.disk.is_some() && args.platform != Platform::X86_64 {
            return Err(
                "--disk only applies to --platform x86_64 (the STM32F4 keeps /data in flash)"
                    .into(),
            );
        }
        if args.uefi && args.platform != Platform::X86_64 {
            return Err("--uefi only applies to --platform x86_64".into());
        }
        Ok(args)
    }

    /// The boot arguments `run` passes the OS (`node=… nats=…`; see `zb_abi::System::boot_args`).
    pub fn boot_args(&self) -> String {
        let mut words = Vec::new();
        if let Some(node) = &self.node {
            words.push(format!("node={node}"));
        }
        if self.nats.is_some() {
            // A PC reaches the server through QEMU's forward; a board over its USART2.
            let server = match self.platform {
                Platform::Stm32f4 => "serial",
                _ => crate::qemu::NATS_GUEST,
            };
            words.push(format!("nats={}{server}", self.credentials_at()));
        }
        words.join(" ")
    }

    /// `CREDENTIALS@` for a `nats=` boot argument, or nothing.
    fn credentials_at(&self) -> String {
        login_at(self.nats_credentials.as_deref())
    }

    /// The browser page's boot arguments, as its query: `--node`, and `--nats HOST:PORT` as
    /// the server's websocket listener, which `cargo xtask nats` puts on PORT+1.
    pub fn web_query(&self) -> String {
        let mut words = Vec::new();
        if let Some(node) = &self.node {
            words.push(format!("node={node}"));
        }
        if let Some((host, port)) = self.nats.as_deref().and_then(|s| s.rsplit_once(':')) {
            let ws = port.parse::<u16>().map_or(0, |p| p.saturating_add(1));
            // Percent-encoded: the page reads it with URLSearchParams (`+` is a space there).
            let login = query_escape(&self.credentials_at());
            words.push(format!("nats={login}{host}:{ws}"));
        }
        words.join("&")
    }

    pub fn fuzz_opts(&self) -> crate::fuzz::FuzzOpts {
        crate::fuzz::FuzzOpts {
            target: self.fuzz_target.clone(),
            secs: self.fuzz_secs,
            seed: self.seed,
            jobs: self.jobs,
            runs: None,
            small: self.small,
        }
    }

    pub fn build_opts(&self) -> BuildOpts {
        BuildOpts {
            release: !self.debug,
            test_hooks: false,
            qemu: true,
        }
    }
}

// The OS's own rules, so `run` refuses what the node would.
use zb_nats::config::is_host_port;
use zb_nats::presence::is_node_id;

/// `text` for a URL query value: everything but letters, digits and `-._~:@` as `%XX`.
fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `LOGIN@` (a login or token) to put before a server's address, or nothing.
pub fn login_at(login: Option<&str>) -> String {
    login.map_or(String::new(), |l| format!("{l}@"))
}

fn credentials_ok(text: &str) -> bool {
    zb_nats::conn::Credentials::parse(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("run").unwrap();
        assert_eq!(
            (a.platform, a.uefi, a.debug),
            (Platform::X86_64, false, false)
        );
        let a = parse("run --platform stm32f4 --debug").unwrap();
        assert_eq!((a.platform, a.debug), (Platform::Stm32f4, true));
        assert!(parse("run --uefi").unwrap().uefi);
        assert_eq!(
            parse("run --disk /tmp/d.img").unwrap().disk,
            Some("/tmp/d.img".into())
        );
        assert!(parse("run --platform stm32f4 --disk x").is_err());
        assert_eq!(parse("bench --boots 3").unwrap().boots, 3);
        let f = parse("fuzz --target http --time 30 --seed 7 --jobs 2").unwrap();
        assert_eq!(
            f.fuzz_opts(),
            crate::fuzz::FuzzOpts {
                target: Some("http".into()),
                secs: 30,
                seed: Some(7),
                jobs: 2,
                runs: None,
                small: false,
            }
        );
        let f = parse("fuzz --target syscalls --small").unwrap();
        assert!(f.fuzz_opts().small);
        assert!(parse("test --no-fuzz").unwrap().no_fuzz);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(
            parse("run --platform vax")
                .unwrap_err()
                .contains("unknown platform")
        );
        assert!(
            parse("run --frobnicate")
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            parse("run --platform")
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(parse("run --platform stm32f4 --uefi").is_err());
        assert!(parse("bench --boots 0").is_err());
        assert!(parse("fuzz --time 0").is_err());
        assert!(parse("fuzz --seed x").is_err());
        assert!(parse("run --nats localhost").is_err());
        assert!(parse("run --node Big_Name").is_err());
        let a = parse("run --nats 127.0.0.1:4222 --node pc-a").unwrap();
        assert_eq!(a.boot_args(), "node=pc-a nats=10.0.2.100:4222");
        let a = parse("run --nats zb:pw@127.0.0.1:4222").unwrap();
        assert_eq!(a.nats.as_deref(), Some("127.0.0.1:4222"));
        assert_eq!(a.boot_args(), "nats=zb:pw@10.0.2.100:4222");
        assert_eq!(a.web_query(), "nats=zb:pw@127.0.0.1:4223");
        let a = parse("run --nats z+b:p&w%@127.0.0.1:4222").unwrap();
        assert_eq!(a.web_query(), "nats=z%2Bb:p%26w%25@127.0.0.1:4223");
        let a = parse("run --platform stm32f4 --nats t0k@127.0.0.1:4222").unwrap();
        assert_eq!(a.boot_args(), "nats=t0k@serial");
        assert!(parse("run --nats zb:@127.0.0.1:4222").is_err());
        assert!(parse("nats --user zb").is_err());
        assert_eq!(
            parse("nats --user zb:pw")
                .unwrap()
                .nats_credentials
                .as_deref(),
            Some("zb:pw")
        );
    }
}
