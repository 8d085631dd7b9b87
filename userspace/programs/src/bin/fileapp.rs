//! `fileapp [dir]`: writes a file in `dir` (default `/data/app`), reads it back, checks the
//! bytes, and lists the directory. With `run --allow file:///data/app fileapp` it can reach
//! only that directory: it also tries to read `/etc/motd` and reports the refusal.
#![no_std]
#![no_main]

use zb_sdk::fs::{self, File, OpenFlags};
use zb_sdk::{Error, println};

zb_sdk::entry!(main);

const TEXT: &[u8] = b"written by fileapp\n";

fn main() -> Result<(), Error> {
    let mut argbuf = [0u8; 256];
    let args = zb_sdk::args(&mut argbuf)?;
    let dir = args
        .iter()
        .next()
        .and_then(|a| core::str::from_utf8(a).ok())
        .unwrap_or("/data/app");
    let mut path = [0u8; 300];
    let path = join(dir, "hello.txt", &mut path)?;

    match fs::mkdir(dir) {
        Ok(()) | Err(Error::AlreadyExists) => {}
        Err(e) => {
            println!("fileapp: mkdir {}: {}", dir, e);
            return Err(e);
        }
    }
    File::create(path)?.write_all(TEXT)?;
    let mut back = [0u8; 64];
    let mut f = File::read_only(path)?;
    let n = f.read(&mut back)?;
    let same = &back[..n] == TEXT;
    println!(
        "fileapp: wrote and read back {} ({} bytes, {})",
        path,
        n,
        if same { "same" } else { "DIFFERENT" }
    );
    let st = fs::stat(path)?;
    println!("fileapp: stat size {}", st.size);
    match File::open("/etc/motd", OpenFlags::READ) {
        Ok(_) => println!("fileapp: /etc/motd is readable"),
        Err(e) => println!("fileapp: /etc/motd: {}", e),
    }
    if same { Ok(()) } else { Err(Error::Corrupt) }
}

/// `dir/name` into `buf`.
fn join<'b>(dir: &str, name: &str, buf: &'b mut [u8]) -> Result<&'b str, Error> {
    let dir = dir.trim_end_matches('/');
    let total = dir.len() + 1 + name.len();
    if total > buf.len() {
        return Err(Error::TooLarge);
    }
    buf[..dir.len()].copy_from_slice(dir.as_bytes());
    buf[dir.len()] = b'/';
    buf[dir.len() + 1..total].copy_from_slice(name.as_bytes());
    core::str::from_utf8(&buf[..total]).map_err(|_| Error::InvalidArgument)
}
