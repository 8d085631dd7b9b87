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

/// A QEMU invocation for one platform, minus how the serial line is connected.
/// Size of a new data disk.
pub const DISK_BYTES: u64 = 16 << 20;

/// Creates (or empties) a data disk image of [`DISK_BYTES`] zeros.
pub fn create_disk(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.set_len(DISK_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub struct Boot {
    pub platform: Platform,
    args: Vec<String>,
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
        args.extend([
            "-drive".into(),
            format!("format=raw,file={}", image.display()),
        ]);
        Boot {
            platform: Platform::X86_64,
            args,
        }
    }

    /// Attaches the raw disk image `path` as a virtio-blk PCI device (the OS's `/data`),
    /// creating it (16 MiB of zeros; the OS formats it) if it does not exist.
    pub fn with_disk(mut self, path: &std::path::Path) -> Result<Boot, String> {
        if !path.exists() {
            create_disk(path)?;
        }
        self.args.extend([
            "-drive".into(),
            format!("file={},if=none,id=data,format=raw", path.display()),
            "-device".into(),
            "virtio-blk-pci,drive=data".into(),
        ]);
        Ok(self)
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
            platform: Platform::Stm32f4,
            args,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(crate::env::qemu_binary(self.platform));
        cmd.args(&self.args);
        cmd
    }

    /// For tests: serial on stdin/stdout, no monitor.
    pub fn headless_command(&self) -> Command {
        let mut cmd = self.command();
        cmd.args(["-serial", "stdio", "-monitor", "none"]);
        cmd
    }

    /// For people: serial and the QEMU monitor multiplexed on the terminal (Ctrl-A X quits,
    /// Ctrl-A H lists the keys).
    pub fn run_interactive(&self) -> Result<Outcome, String> {
        eprintln!(
            "xtask: booting {} in QEMU; Ctrl-A X quits, `shutdown` stops the OS",
            self.platform.name()
        );
        let status = self
            .command()
            .args(["-serial", "mon:stdio"])
            .status()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        Ok(Outcome::from_status(self.platform, status))
    }
}
