//! A minimal HTTP/1.1 client for the tests and benchmarks that talk to the guest's status
//! server through a QEMU hostfwd.
//!
//! One `Connection` is one TCP stream carrying any number of requests (keep-alive); answers
//! are framed by `Content-Length`, as the status server always sends it. Good enough for a
//! test harness, not a general client: no chunked encoding, no redirects.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An answer: the status code and the body as text.
pub type Answer = (u16, String);

/// A keep-alive connection to `127.0.0.1:port`.
pub struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects; reads give up after `timeout` without data.
    pub fn open(port: u16, timeout: Duration) -> Result<Connection, String> {
        let s = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect to 127.0.0.1:{port}: {e}"))?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        // Requests go out whole at once; nothing to gain from Nagle.
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        Ok(Connection {
            writer,
            reader: BufReader::new(s),
        })
    }

    /// `GET path`, keeping the connection open unless `close`.
    pub fn get(&mut self, path: &str, close: bool) -> Result<Answer, String> {
        let connection = if close { "close" } else { "keep-alive" };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n\r\n");
        self.writer
            .write_all(request.as_bytes())
            .map_err(|e| format!("sending the request: {e}"))?;
        self.answer()
    }

    /// Reads one answer: the status line, headers, and `Content-Length` bytes of body.
    pub fn answer(&mut self) -> Result<Answer, String> {
        let mut status_line = String::new();
        self.read_line(&mut status_line)?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.read_line(&mut line)?;
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("a bad Content-Length: {line:?}"))?;
            }
        }
        let mut body = vec![0u8; length];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading a {length}-byte body: {e}"))?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn read_line(&mut self, line: &mut String) -> Result<(), String> {
        match self.reader.read_line(line) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("reading the answer: {e}")),
        }
    }
}

/// Sends raw `request` bytes on a new connection and reads until the server closes it: for
/// malformed requests, whose answers close the connection.
pub fn exchange(port: u16, request: &[u8], timeout: Duration) -> Result<Answer, String> {
    let mut c = Connection::open(port, timeout)?;
    c.writer
        .write_all(request)
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut raw = Vec::new();
    c.reader
        .read_to_end(&mut raw)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}
