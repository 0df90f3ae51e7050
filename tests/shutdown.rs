//! Shutdown under load, against the built binary (http-api spec §9): steady traffic
//! from several clients (keep-alive and one-shot connections, recipe, query and bundle
//! requests, one request whose body is still arriving), then SIGTERM. Every request
//! the server took must get a complete answer, `/ready` must turn 503 before the
//! listener closes, and the process must exit 0 within the drain deadline.

#[path = "common/wire.rs"]
mod wire;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use wire::{Conn, ReadError};

const DELAY_SECONDS: u64 = 1;
const DRAIN_SECONDS: u64 = 10;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Debug, Default)]
struct Tally {
    /// Complete answers, by status.
    statuses: std::collections::BTreeMap<u16, usize>,
    complete_after_term: usize,
    /// Answers cut short: must stay 0.
    truncated: Vec<String>,
    /// Connection ended before any answer byte, before SIGTERM: must stay 0.
    lost_before_term: Vec<String>,
    /// Connection ended before any answer byte after SIGTERM: the server had not taken
    /// the request (a keep-alive connection closed while idle, or a connection still in
    /// the listen backlog when the listener closed).
    unanswered_after_term: usize,
    /// ... of which on a keep-alive connection that had served a request before.
    unanswered_reused_after_term: usize,
    refused_after_term: usize,
    closes_after_term: usize,
}

struct Load {
    addr: std::net::SocketAddr,
    term_sent: AtomicBool,
    tally: Mutex<Tally>,
    bundle_body: Vec<u8>,
}

fn request(kind: usize, load: &Load, keep_alive: bool) -> (&'static str, Vec<u8>) {
    let conn = if keep_alive { "" } else { "Connection: close\r\n" };
    match kind % 6 {
        0 | 3 => ("GET", format!("GET /v1/recipe?service=eks&intent=training HTTP/1.1\r\nHost: t\r\n{conn}\r\n").into()),
        1 => (
            "GET",
            format!("GET /v1/query?service=gke&selector=components HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n{conn}\r\n")
                .into(),
        ),
        2 => (
            "GET",
            format!("GET /v1/recipe?service=aks HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n{conn}\r\n").into(),
        ),
        4 => {
            let body = br#"{"kind":"RecipeCriteria","spec":{"service":"oke","accelerator":"h100"}}"#;
            let mut raw = format!(
                "POST /v1/recipe HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{conn}\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend_from_slice(body);
            ("POST", raw)
        }
        _ => {
            let mut raw = format!(
                "POST /v1/bundle HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{conn}\r\n",
                load.bundle_body.len()
            )
            .into_bytes();
            raw.extend_from_slice(&load.bundle_body);
            ("POST", raw)
        }
    }
}

async fn client(load: Arc<Load>, id: usize, keep_alive: bool, stop: Arc<AtomicBool>) {
    let mut conn: Option<Conn<TcpStream>> = None;
    let mut n = id;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let reused = conn.is_some();
        let mut c = match conn.take() {
            Some(c) => c,
            None => match TcpStream::connect(load.addr).await {
                Ok(s) => Conn::new(s),
                Err(e) => {
                    let mut t = load.tally.lock().await;
                    if load.term_sent.load(Ordering::SeqCst) {
                        t.refused_after_term += 1;
                        return;
                    }
                    t.lost_before_term.push(format!("connect: {e}"));
                    return;
                }
            },
        };
        let (method, raw) = request(n, &load, keep_alive);
        let term_before = load.term_sent.load(Ordering::SeqCst);
        let written = c.stream.write_all(&raw).await;
        let answer = match written {
            Ok(()) => tokio::time::timeout(Duration::from_secs(30), c.response(method))
                .await
                .unwrap_or(Err(ReadError::Truncated(0))),
            Err(_) => Err(ReadError::ClosedBeforeResponse),
        };
        let term_after = load.term_sent.load(Ordering::SeqCst);
        let mut t = load.tally.lock().await;
        let what = String::from_utf8_lossy(&raw[..raw.len().min(60)]).into_owned();
        match answer {
            Ok(r) => {
                *t.statuses.entry(r.status).or_default() += 1;
                if term_after {
                    t.complete_after_term += 1;
                    t.closes_after_term += usize::from(r.closes());
                }
                if keep_alive && !r.closes() {
                    conn = Some(c);
                }
            }
            Err(ReadError::ClosedBeforeResponse) if term_after => {
                t.unanswered_after_term += 1;
                t.unanswered_reused_after_term += usize::from(reused);
            }
            Err(ReadError::ClosedBeforeResponse) => t.lost_before_term.push(what),
            Err(e) => t.truncated.push(format!("{what} [{e:?}] term before/after: {term_before}/{term_after}")),
        }
    }
}

/// Polls `/ready` on fresh connections: the statuses seen, in order, with `0` for a
/// refused connection and `1` for one closed unanswered (still in the listen backlog
/// when the listener closed); stops at the first refusal.
async fn readiness(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Vec<(Instant, u16)> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let status = match TcpStream::connect(addr).await {
            Err(_) => 0,
            Ok(s) => {
                let mut c = Conn::new(s);
                let _ = c.stream.write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
                match c.response("GET").await {
                    Ok(r) => r.status,
                    Err(_) => 1,
                }
            }
        };
        seen.push((Instant::now(), status));
        if status == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

async fn wait_exit(mut proc: Proc, within: Duration) -> (Option<std::process::ExitStatus>, Proc) {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Ok(Some(status)) = proc.0.try_wait() {
            return (Some(status), proc);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (None, proc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_accepted_request() {
    let port = free_port();
    let proc = Proc(
        Command::new(env!("CARGO_BIN_EXE_aicrd"))
            .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .env("AICR_RATE_LIMIT", "0")
            .env("AICR_SHUTDOWN_DELAY_SECONDS", DELAY_SECONDS.to_string())
            .env("SHUTDOWN_TIMEOUT_SECONDS", DRAIN_SECONDS.to_string())
            .env("AICR_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Up (the debug binary hydrates every recipe at start-up).
    let started = Instant::now();
    let recipe = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "server did not come up");
        if let Ok(s) = TcpStream::connect(addr).await {
            let mut c = Conn::new(s);
            let req = b"GET /v1/recipe?service=eks&accelerator=h100&intent=training HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            if c.stream.write_all(req).await.is_ok()
                && let Ok(r) = c.response("GET").await
            {
                assert_eq!(r.status, 200);
                break r.body;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let load = Arc::new(Load { addr, term_sent: AtomicBool::new(false), tally: Mutex::default(), bundle_body: recipe });
    let stop = Arc::new(AtomicBool::new(false));
    let ready = tokio::spawn(readiness(addr, stop.clone()));
    let clients: Vec<_> = (0..6).map(|i| tokio::spawn(client(load.clone(), i * 7, i % 2 == 0, stop.clone()))).collect();

    // A request whose body is still arriving when the signal comes.
    let body = br#"{"kind":"RecipeCriteria","spec":{"service":"eks","intent":"inference"}}"#;
    let mut slow = Conn::new(TcpStream::connect(addr).await.unwrap());
    let head = format!(
        "POST /v1/recipe HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.stream.write_all(head.as_bytes()).await.unwrap();
    slow.stream.write_all(&body[..10]).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_term = load.tally.lock().await.statuses.values().sum::<usize>();
    assert!(before_term > 0, "load was flowing before SIGTERM");
    let term_at = Instant::now();
    load.term_sent.store(true, Ordering::SeqCst);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proc.0.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();

    // Finish the slow body in the middle of the readiness delay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    slow.stream.write_all(&body[10..]).await.unwrap();
    let slow_answer = tokio::time::timeout(Duration::from_secs(30), slow.response("POST")).await.unwrap();

    let (status, _proc) = wait_exit(proc, Duration::from_secs(DELAY_SECONDS + DRAIN_SECONDS + 10)).await;
    let exited_after = term_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(30), c).await.expect("client finished").unwrap();
    }
    let ready = ready.await.unwrap();
    let t = load.tally.lock().await;
    eprintln!("shutdown under load: {t:?}; exited {exited_after:?} after SIGTERM");

    let status = status.expect("process exited within delay + drain deadline");
    assert_eq!(status.code(), Some(0), "clean exit after draining");
    let slow_answer = slow_answer.expect("the request in flight at SIGTERM was answered");
    assert_eq!(slow_answer.status, 200);
    assert!(t.truncated.is_empty(), "answers cut short: {:?}", t.truncated);
    assert!(t.lost_before_term.is_empty(), "requests lost before SIGTERM: {:?}", t.lost_before_term);
    assert_eq!(t.statuses.keys().copied().filter(|s| *s != 200 && *s != 304).count(), 0, "{:?}", t.statuses);
    assert!(t.complete_after_term > 0, "requests were still served during the readiness delay");

    // Readiness: 200 while up, 503 after the signal, before any refused connection.
    let first_503 = ready.iter().position(|(_, s)| *s == 503).expect("/ready answered 503");
    let first_refused = ready.iter().position(|(_, s)| *s <= 1).unwrap_or(ready.len());
    assert!(ready[..first_503].iter().all(|(_, s)| *s == 200), "{ready:?}");
    assert!(ready[first_503].0 >= term_at);
    assert!(first_503 < first_refused);
    assert!(ready[first_503..first_refused].iter().all(|(_, s)| *s == 503), "{ready:?}");
}
