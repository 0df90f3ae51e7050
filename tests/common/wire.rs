//! Raw-socket helpers for tests that talk HTTP/1.1 bytes to a real listener: start the
//! server in-process, read responses framed by `Content-Length` or chunked encoding,
//! raise the descriptor limit.
#![allow(dead_code)]

use aicrd::server::{AppState, ServeError, Settings, serve};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server running in this process on a free loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Server {
    pub async fn start(settings: Settings) -> Server {
        let state = AppState::embedded(settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Server { addr, state, stop: Some(tx), handle }
    }

    /// Signals shutdown and waits for the drain.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.handle).await.expect("drained in time").unwrap()
    }
}

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Why no complete response could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The connection ended (EOF or reset) before any byte of a response.
    ClosedBeforeResponse,
    /// The connection ended (EOF or reset) in the middle of a response.
    Truncated(usize),
    /// Bytes that are not an HTTP/1.1 response.
    Garbage(String),
}

/// A reader that keeps bytes received past the end of one response for the next.
pub struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn { stream, buf: Vec::new() }
    }

    /// Reads more bytes; `false` on EOF or error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads one response to a request of method `method` (HEAD and 304 have no body).
    pub async fn response(&mut self, method: &str) -> Result<Response, ReadError> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await {
                return Err(if self.buf.is_empty() {
                    ReadError::ClosedBeforeResponse
                } else {
                    ReadError::Truncated(self.buf.len())
                });
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| ReadError::Garbage(status_line.to_string()))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        self.buf.drain(..head_end + 4);
        let mut response = Response { status, headers, body: Vec::new() };
        if method == "HEAD" || status == 304 || status == 204 || (100..200).contains(&status) {
            return Ok(response);
        }
        if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            response.body = self.chunked().await?;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().map_err(|_| ReadError::Garbage(format!("content-length {len}")))?;
            while self.buf.len() < len {
                if !self.fill().await {
                    return Err(ReadError::Truncated(self.buf.len()));
                }
            }
            response.body = self.buf.drain(..len).collect();
        } else {
            // Delimited by the end of the connection.
            while self.fill().await {}
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    async fn chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if !self.fill().await {
                    return Err(ReadError::Truncated(body.len()));
                }
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| ReadError::Garbage(format!("chunk size {line:?}")))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if !self.fill().await {
                    return Err(ReadError::Truncated(body.len()));
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    /// Whether the peer closed the connection (EOF or reset) with nothing more to read,
    /// waiting up to `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(within, self.stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Raises the soft descriptor limit towards `want` (up to the hard limit); returns the
/// soft limit in force afterwards.
pub fn raise_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 1024 };
    if soft >= want {
        return soft;
    }
    let target = want.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

/// The value of an unlabelled metric in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}
