//! The web platform on the host: building the site (kernel.wasm, the page, its npm packages),
//! serving it on 127.0.0.1, and the browser driver the test harness talks through.
//!
//! The site is assembled in `target/zerobus/web/`: `boot/web/www/*` (index.html, main.js,
//! worker.js, package.json and its lockfile), `kernel.wasm`, and `node_modules/` installed by
//! `npm ci` from the lockfile (nothing is fetched from a CDN when the page runs). The driver
//! (`xtask/web/drive.mjs`, Playwright without its browser downloads) is installed the same way
//! in `target/zerobus/web-driver/` and drives Debian's Chromium.
//!
//! The server is a small static file server (std only): GET and HEAD of files under the site,
//! with the right MIME types (`application/wasm` for the kernel: streaming compilation needs
//! it) and `Cache-Control: no-cache`, so a rebuilt kernel is what the next reload gets. It also
//! sends COOP/COEP (`same-origin`, `require-corp`): the page uses no SharedArrayBuffer, but a
//! cross-origin isolated page gets `performance.now()` at 5 µs resolution instead of 100 µs,
//! which the kernel's clock (`time`, `uptime`, the benchmarks) is built on.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::artifacts::{self, BuildOpts};
use crate::cli::Platform;

/// The page's files, copied into the site.
const PAGE_FILES: &[&str] = &[
    "index.html",
    "main.js",
    "worker.js",
    "package.json",
    "package-lock.json",
];
/// The driver's files, copied beside its node_modules.
const DRIVER_FILES: &[&str] = &["drive.mjs", "package.json", "package-lock.json"];

/// Builds the kernel for the browser and assembles the site; returns its directory.
pub fn build_site(opts: &BuildOpts) -> Result<PathBuf, String> {
    let wasm = artifacts::build_kernel(Platform::Web, opts)?;
    let site = artifacts::target_dir().join("zerobus/web");
    let www = artifacts::root().join("boot/web/www");
    copy_files(&www, &site, PAGE_FILES)?;
    std::fs::copy(&wasm, site.join("kernel.wasm"))
        .map_err(|e| format!("{} → {}: {e}", wasm.display(), site.display()))?;
    npm_ci(&site)?;
    Ok(site)
}

/// Installs the driver and makes sure Chromium is there; returns the driver script's path.
pub fn driver() -> Result<PathBuf, String> {
    crate::env::ensure_apt("chromium", &["chromium"])?;
    let dir = artifacts::target_dir().join("zerobus/web-driver");
    copy_files(&artifacts::root().join("xtask/web"), &dir, DRIVER_FILES)?;
    npm_ci(&dir)?;
    Ok(dir.join("drive.mjs"))
}

fn copy_files(from: &Path, to: &Path, names: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for name in names {
        let src = from.join(name);
        std::fs::copy(&src, to.join(name)).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    Ok(())
}

/// `npm ci` in `dir`, unless its node_modules were installed from this very lockfile.
fn npm_ci(dir: &Path) -> Result<(), String> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let stamp = dir.join("node_modules/.zb-lock");
    if std::fs::read(&stamp).ok().as_deref() == Some(&lock[..]) {
        return Ok(());
    }
    eprintln!("xtask: npm ci in {}", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run npm (install Node.js 18 or later): {e}"))?;
    if !status.success() {
        return Err(format!("npm ci in {} failed", dir.display()));
    }
    std::fs::write(&stamp, &lock).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// A static file server for a site, on 127.0.0.1, for as long as it lives.
pub struct Server {
    pub port: u16,
}

impl Server {
    /// Serves `site` on `127.0.0.1:port` (0: any free port) from a background thread.
    pub fn start(site: PathBuf, port: u16) -> Result<Server, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let site = site.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &site);
                });
            }
        });
        Ok(Server { port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// Answers the requests of one connection (keep-alive) until it closes.
fn serve(stream: TcpStream, site: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        // Headers: read and ignored (no request this server answers has a body).
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
        }
        let mut words = request.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        let (status, kind, body) = match (method, file_for(site, target)) {
            ("GET" | "HEAD", Some(path)) => match std::fs::read(&path) {
                Ok(body) => ("200 OK", mime(&path), body),
                Err(_) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            },
            ("GET" | "HEAD", None) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                b"only GET and HEAD\n".to_vec(),
            ),
        };
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nCross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n\r\n",
            body.len()
        )?;
        if method != "HEAD" {
            out.write_all(&body)?;
        }
        out.flush()?;
    }
}

/// The file a request target names inside `site`: no `..`, no hidden files, `/` is the index.
fn file_for(site: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let mut file = site.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part.starts_with('.') || part.contains('\\') {
            return None;
        }
        file.push(part);
    }
    file.is_file().then_some(file)
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// `cargo xtask run --platform web`: build, serve on 127.0.0.1:`port`, print the URL, wait.
/// `query`: the page's boot arguments (`node=…&nats=…`), or empty.
pub fn run(opts: &BuildOpts, port: u16, query: &str) -> Result<(), String> {
    let site = build_site(opts)?;
    let server = Server::start(site, port)?;
    let url = if query.is_empty() {
        server.url()
    } else {
        format!("{}?{query}", server.url())
    };
    println!(
        "xtask: ZeroBus OS for the browser is served at {url}\n       open it in Chromium (or any browser with OPFS); Ctrl-C stops the server"
    );
    loop {
        std::thread::park();
    }
}

/// What the README's screenshot shows being typed.
const SCREENSHOT_SESSION: &str =
    "run hello\nemit sensors.temp '{\"c\":21.5}'\nlog 'sensors.>'\nmount\nmem";

/// Saves a screenshot of the page after a short session (for the README).
pub fn screenshot(opts: &BuildOpts, to: &Path) -> Result<(), String> {
    let site = build_site(opts)?;
    let driver = driver()?;
    let server = Server::start(site, 0)?;
    let profile = tempdir("screenshot")?;
    let status = Command::new("node")
        .arg(&driver)
        .args(["--url", &server.url(), "--profile"])
        .arg(&profile)
        .arg("--screenshot")
        .arg(to)
        .args(["--type", SCREENSHOT_SESSION])
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let _ = std::fs::remove_dir_all(&profile);
    if status.success() {
        println!("xtask: screenshot in {}", to.display());
        Ok(())
    } else {
        Err("the page did not reach a prompt".into())
    }
}

/// A new, empty browser profile directory under `target/zerobus/test-disks/`.
pub fn tempdir(name: &str) -> Result<PathBuf, String> {
    let dir = artifacts::target_dir()
        .join("zerobus/test-disks")
        .join(format!(
            "{}-{}-profile",
            name.replace('/', "-"),
            std::process::id()
        ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_files_inside_the_site() {
        let site = std::env::temp_dir().join(format!("zb-site-{}", std::process::id()));
        std::fs::create_dir_all(site.join("lib")).unwrap();
        std::fs::write(site.join("index.html"), "x").unwrap();
        std::fs::write(site.join("lib/a.js"), "x").unwrap();
        assert_eq!(file_for(&site, "/"), Some(site.join("index.html")));
        assert_eq!(
            file_for(&site, "/lib/a.js?v=1"),
            Some(site.join("lib/a.js"))
        );
        assert_eq!(file_for(&site, "/../etc/passwd"), None);
        assert_eq!(file_for(&site, "/lib/../index.html"), None);
        assert_eq!(file_for(&site, "/lib/"), None);
        assert_eq!(file_for(&site, "/nope"), None);
        std::fs::remove_dir_all(&site).unwrap();
    }
}
