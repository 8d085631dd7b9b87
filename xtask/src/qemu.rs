//! QEMU command lines, one per platform, and how their exit statuses read.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};

use crate::cli::Platform;

/// How a QEMU run ended, in the OS's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `shutdown` (or Ctrl-A X).
    Success,
    /// The OS stopped with a failure (a kernel panic), or QEMU itself failed.
    Failure(Option<i32>),
}

impl Outcome {
    pub fn from_status(platform: Platform, status: ExitStatus) -> Outcome {
        match (platform, status.code()) {
            // isa-debug-exit: the kernel writes 16, QEMU exits (16 << 1) | 1 = 33. Plain 0 is
            // QEMU quitting on its own (Ctrl-A X, the monitor's `quit`).
            (Platform::X86_64, Some(33 | 0)) => Outcome::Success,
            // Semihosting SYS_EXIT passes the status through.
            (Platform::Stm32f4, Some(0)) => Outcome::Success,
            // The browser driver exits 0 when the OS shuts down (xtask/web/drive.mjs).
            (Platform::Web, Some(0)) => Outcome::Success,
            (_, code) => Outcome::Failure(code),
        }
    }

    pub fn success(self) -> bool {
        self == Outcome::Success
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Success => f.write_str("success"),
            Outcome::Failure(Some(c)) => write!(f, "failure (exit status {c})"),
            Outcome::Failure(None) => f.write_str("failure (killed by a signal)"),
        }
    }
}

/// The OVMF firmware code image, where Debian's `ovmf` package puts it.
pub fn ovmf_code() -> Option<PathBuf> {
    [
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/ovmf/OVMF.fd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Size of a new data disk.
pub const DISK_BYTES: u64 = 16 << 20;
/// Size of a new journal disk.
pub const JOURNAL_BYTES: u64 = 4 << 20;
/// The serial number that tells the OS which virtio-blk disk holds the journal (the HAL's
/// `blk::JOURNAL_SERIAL`).
const JOURNAL_SERIAL: &str = "zb-journal";

/// Creates (or empties) a data disk image of [`DISK_BYTES`] zeros.
pub fn create_disk(path: &std::path::Path) -> Result<(), String> {
    create_image(path, DISK_BYTES)
}

/// Creates (or empties) an image of `bytes` zeros.
fn create_image(path: &std::path::Path, bytes: u64) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.set_len(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The journal disk that goes with data disk `data`: `<data>.journal`, beside it.
pub fn journal_disk(data: &std::path::Path) -> PathBuf {
    let mut name = data.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Disks made for one test boot; the files are deleted when the [`Boot`] is dropped.
struct TempDisk(Vec<PathBuf>);

impl Drop for TempDisk {
    fn drop(&mut self) {
        for path in &self.0 {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(path);
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Where a PC node reaches nats-server: a guest address QEMU's user network forwards.
pub const NATS_GUEST: &str = "10.0.2.100:4222";

/// Forwards through QEMU's user network (see [`Boot::with_network`]).
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// (host port on 127.0.0.1, guest TCP port).
    pub hostfwd: Vec<(u16, u16)>,
    /// (host port on 127.0.0.1, guest UDP port).
    pub hostfwd_udp: Vec<(u16, u16)>,
    /// (guest `ip:port`, host port on 127.0.0.1).
    pub guestfwd: Vec<(String, u16)>,
    /// A host directory QEMU's TFTP server on 10.0.2.2 serves (read only).
    pub tftp: Option<PathBuf>,
    /// `HOST:PORT` of a nats-server the guest reaches at [`NATS_GUEST`]: each connection
    /// the guest opens there is a new connection to it (`cargo xtask relay`, spawned by
    /// QEMU per connection), so the node reconnects after the server restarts — a plain
    /// `guestfwd` to a socket chardev connects once, for QEMU's lifetime.
    pub nats: Option<String>,
}

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free when this returns).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> Result<u16, String> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A QEMU invocation for one platform, minus how the serial line is connected.
pub struct Boot {
    pub platform: Platform,
    /// The STM32F4's second serial line (USART2), as a QEMU chardev spec.
    serial1: Option<String>,
    /// The raw image attached as the x86_64 virtio-blk data disk (`/data`), if any.
    pub disk: Option<PathBuf>,
    args: Vec<String>,
    temp: Option<TempDisk>,
}

impl Boot {
    /// q35 PC under TCG (KVM is slower on the project machines), 256 MiB, no network card
    /// (networking is set up explicitly, restricted), the debug-exit device for shutdown. Not
    /// `-nodefaults`: the BIOS boot stage needs the default VGA card for its VESA calls.
    pub fn x86_64(image: PathBuf, uefi: bool) -> Boot {
        let mut args: Vec<String> = [
            "-machine",
            "q35",
            "-m",
            "256M",
            "-smp",
            "1",
            "-nic",
            "none",
            "-no-user-config",
            "-display",
            "none",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .map(String::from)
        .to_vec();
        if uefi {
            let code = ovmf_code()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            args.extend([
                "-drive".into(),
                format!("if=pflash,format=raw,readonly=on,file={code}"),
            ]);
        }
        // snapshot=on: the OS never writes its boot disk, and several nodes (federation) can
        // boot the same image at once (QEMU locks an image it may write).
        args.extend([
            "-drive".into(),
            format!(
                "format=raw,snapshot=on,file={}",
                image.display().to_string().replace(',', ",,")
            ),
        ]);
        Boot {
            serial1: None,
            platform: Platform::X86_64,
            disk: None,
            args,
            temp: None,
        }
    }

    /// Attaches the raw disk image `path` as a virtio-blk PCI device (the OS's `/data`),
    /// creating it (16 MiB of zeros; the OS formats it) if it does not exist, and beside it
    /// the journal's disk ([`journal_disk`], 4 MiB), marked for the OS by its serial number.
    /// x86_64 only.
    pub fn with_disk(mut self, path: &std::path::Path) -> Result<Boot, String> {
        if self.platform != Platform::X86_64 {
            return Err(
                "only the x86_64 PC takes a data disk (the STM32F4 keeps /data in flash)".into(),
            );
        }
        if self.disk.is_some() {
            return Err("this boot already has a data disk".into());
        }
        if !path.exists() {
            create_disk(path)?;
        }
        // QEMU splits -drive options at commas; a comma in the path is written twice.
        let file = path.display().to_string().replace(',', ",,");
        self.args.extend([
            "-drive".into(),
            format!("file={file},if=none,id=data,format=raw"),
            "-device".into(),
            "virtio-blk-pci,drive=data".into(),
        ]);
        let journal = journal_disk(path);
        if !journal.exists() {
            create_image(&journal, JOURNAL_BYTES)?;
        }
        let file = journal.display().to_string().replace(',', ",,");
        self.args.extend([
            "-drive".into(),
            format!("file={file},if=none,id=journal,format=raw"),
            "-device".into(),
            format!("virtio-blk-pci,drive=journal,serial={JOURNAL_SERIAL}"),
        ]);
        self.disk = Some(path.to_path_buf());
        Ok(self)
    }

    /// On x86_64, a virtio-net card on QEMU's user network with `restrict=on` (the guest
    /// reaches nothing outside but what `net` forwards explicitly): `hostfwd` maps host
    /// 127.0.0.1 ports to guest ports, `guestfwd` maps guest `ip:port`s to host
    /// `127.0.0.1:port`s. The STM32F4 has no network: its boot is returned unchanged.
    pub fn with_network(mut self, net: &Network) -> Boot {
        if self.platform != Platform::X86_64 {
            return self;
        }
        if let Some(i) = self.args.iter().position(|a| a == "-nic") {
            self.args.drain(i..i + 2);
        }
        let mut netdev = String::from("user,id=net0,restrict=on");
        for (host, guest) in &net.hostfwd {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
        }
        for (host, guest) in &net.hostfwd_udp {
            netdev.push_str(&format!(",hostfwd=udp:127.0.0.1:{host}-:{guest}"));
        }
        for (guest, host) in &net.guestfwd {
            netdev.push_str(&format!(",guestfwd=tcp:{guest}-tcp:127.0.0.1:{host}"));
        }
        if let Some(server) = &net.nats {
            let relay = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "xtask".into());
            netdev.push_str(&format!(
                ",guestfwd=tcp:{NATS_GUEST}-cmd:{} relay {server}",
                relay.replace(',', ",,")
            ));
        }
        if let Some(dir) = &net.tftp {
            // QEMU's option syntax: a comma in the path would be read as the next option.
            netdev.push_str(&format!(
                ",tftp={}",
                dir.display().to_string().replace(',', ",,")
            ));
        }
        self.args.extend([
            "-netdev".into(),
            netdev,
            "-device".into(),
            "virtio-net-pci,netdev=net0".into(),
        ]);
        self
    }

    /// Passes `args` (`key=value` words) to the OS as its boot arguments: QEMU's fw_cfg file
    /// `opt/zerobus/args` on x86_64 (read by `zb_hal_x86_64::fw_cfg`). Other platforms:
    /// unchanged.
    pub fn with_boot_args(mut self, args: &str) -> Boot {
        if args.is_empty() {
            return self;
        }
        match self.platform {
            Platform::X86_64 => self.args.extend([
                "-fw_cfg".into(),
                format!("name=opt/zerobus/args,string={}", args.replace(',', ",,")),
            ]),
            // Read by semihosting's SYS_GET_CMDLINE (zb_hal_stm32f4::args).
            Platform::Stm32f4 => self.args.extend(["-append".into(), args.into()]),
            Platform::Web => {}
        }
        self
    }

    /// On the STM32F4, connects USART2 (the federation link's line) to nats-server on
    /// 127.0.0.1:`port`; QEMU connects again whenever the server closes the connection.
    pub fn with_nats_serial(mut self, port: u16) -> Boot {
        if self.platform == Platform::Stm32f4 {
            self.serial1 = Some(format!("tcp:127.0.0.1:{port},reconnect=1"));
        }
        self
    }

    /// For tests: on x86_64, attaches a new, empty data disk ([`DISK_BYTES`] of zeros, in
    /// `target/zerobus/test-disks/`, named after `name` and this process) that is deleted when
    /// the `Boot` is dropped — so a suite never sees a developer's `data.img` or another
    /// suite's files, and every boot of the same `Boot` sees the same disk. The STM32F4 keeps
    /// `/data` in its own flash: its boot is returned unchanged.
    pub fn with_fresh_disk(mut self, name: &str) -> Result<Boot, String> {
        if self.platform == Platform::Web {
            // A browser's storage is its profile: a new one, used by every boot of this Boot.
            let dir = crate::web::tempdir(name)?;
            self.args
                .extend(["--profile".into(), dir.display().to_string()]);
            self.temp = Some(TempDisk(vec![dir]));
            return Ok(self);
        }
        if self.platform != Platform::X86_64 {
            return Ok(self);
        }
        let file = format!("{}-{}.img", name.replace('/', "-"), std::process::id());
        let path = crate::artifacts::target_dir()
            .join("zerobus/test-disks")
            .join(file);
        create_disk(&path)?;
        let journal = journal_disk(&path);
        create_image(&journal, JOURNAL_BYTES)?;
        let temp = TempDisk(vec![path.clone(), journal]);
        let mut boot = self.with_disk(&path)?;
        boot.temp = Some(temp);
        Ok(boot)
    }

    /// QEMU's netduinoplus2 (STM32F405): USART1 is serial0; semihosting carries the exit status.
    pub fn stm32f4(elf: PathBuf) -> Boot {
        let args = [
            "-machine",
            "netduinoplus2",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ]
        .map(String::from)
        .into_iter()
        .chain(["-kernel".into(), elf.display().to_string()])
        .collect();
        Boot {
            serial1: None,
            platform: Platform::Stm32f4,
            disk: None,
            args,
            temp: None,
        }
    }

    /// The page in headless Chromium, through the browser driver (`xtask/web/drive.mjs`):
    /// its stdin and stdout are the console, as QEMU's `-serial stdio` (see
    /// [`Boot::with_fresh_disk`] for the profile that holds the browser's storage).
    pub fn web(url: String, driver: PathBuf) -> Boot {
        Boot {
            serial1: None,
            platform: Platform::Web,
            disk: None,
            args: vec![driver.display().to_string(), "--url".into(), url],
            temp: None,
        }
    }

    /// The same web boot (same profile) with `query` added to the page's URL.
    pub fn with_url_query(&self, query: &str) -> Result<Boot, String> {
        let Some(at) = self.args.iter().position(|a| a == "--url") else {
            return Err("only a web boot has a page URL".into());
        };
        let mut args = self.args.clone();
        args[at + 1] = format!("{}?{query}", args[at + 1]);
        Ok(Boot {
            serial1: None,
            platform: self.platform,
            disk: None,
            args,
            temp: None,
        })
    }

    fn command(&self) -> Command {
        let program = match self.platform {
            Platform::Web => "node",
            p => crate::env::qemu_binary(p),
        };
        let mut cmd = Command::new(program);
        cmd.args(&self.args);
        if self.platform == Platform::Web && !self.args.iter().any(|a| a == "--profile") {
            let profile = crate::artifacts::target_dir().join("zerobus/web-profile");
            cmd.arg("--profile").arg(profile);
        }
        cmd
    }

    /// For tests: serial on stdin/stdout, no monitor.
    pub fn headless_command(&self) -> Command {
        let mut cmd = self.command();
        if self.platform != Platform::Web {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        if let Some(line) = &self.serial1 {
            cmd.args(["-serial", line]);
        }
        cmd
    }

    /// For people: serial and the QEMU monitor multiplexed on the terminal (Ctrl-A X quits,
    /// Ctrl-A H lists the keys).
    pub fn run_interactive(&self) -> Result<Outcome, String> {
        let disk = match &self.disk {
            Some(path) => format!(" with data disk {}", path.display()),
            None => String::new(),
        };
        eprintln!(
            "xtask: booting {} in QEMU{disk}; Ctrl-A X quits, `shutdown` stops the OS",
            self.platform.name()
        );
        let mut cmd = self.command();
        cmd.args(["-serial", "mon:stdio"]);
        if let Some(line) = &self.serial1 {
            cmd.args(["-serial", line]);
        }
        let status = cmd
            .status()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        Ok(Outcome::from_status(self.platform, status))
    }
}
