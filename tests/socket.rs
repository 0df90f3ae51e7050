//! Real sockets: graceful shutdown with a request in flight (http-api spec §9), the
//! drain deadline, the 64 KiB head cap (431, §8), idle connections not blocking
//! others, and start-up failures of the binary (exit code 1).

mod common;

use aicrd::server::{AppState, ServeError, Settings, serve};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn start(
    settings: Settings,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), ServeError>>) {
    let state = AppState::embedded(settings).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    (addr, tx, handle)
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn simple_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    read_response(&mut s).await
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_refuses_new_connections() {
    let (addr, tx, handle) = start(Settings::default()).await;
    let body = r#"{"spec":{"service":"eks"}}"#;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/recipe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "new connections are refused while draining");
    slow.write_all(&body.as_bytes()[5..]).await.unwrap();
    let response = read_response(&mut slow).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.to_ascii_lowercase().contains("connection: close"));
    assert!(response.contains("\"service\":\"eks\""));
    let result = tokio::time::timeout(Duration::from_secs(10), handle).await.unwrap().unwrap();
    assert!(result.is_ok());
}

#[tokio::test]
async fn a_drain_past_the_deadline_is_an_error() {
    let mut settings = Settings::default();
    settings.timeouts.shutdown = Duration::from_millis(200);
    let (addr, tx, handle) = start(settings).await;
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck.write_all(b"POST /v1/recipe HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), handle).await.unwrap().unwrap();
    assert!(matches!(result, Err(ServeError::DrainTimeout(_))));
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let (addr, tx, _handle) = start(Settings::default()).await;
    let big = "a".repeat(70 * 1024);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(format!("GET /v1/recipe HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes()).await;
    let response = read_response(&mut s).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    let fine = "a".repeat(50 * 1024);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /v1/recipe HTTP/1.1\r\nHost: x\r\nX-Big: {fine}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let _ = tx.send(());
}

#[tokio::test]
async fn idle_and_trickling_clients_do_not_block_others() {
    let mut settings = Settings::default();
    settings.timeouts.header = Duration::from_millis(300);
    let (addr, tx, _handle) = start(settings).await;
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /v1/recipe HTTP/1.1\r\nHo").await.unwrap();
        }
        idle.push(s);
    }
    let response = simple_get(addr, "/v1/recipe?service=kind").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The silent and trickling connections are closed once their head deadline passes.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle[0].read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "connection closed without an answer");
    let _ = tx.send(());
}

#[test]
fn invalid_allowlist_stops_start_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aicrd"))
        .args(["serve", "--port", "0"])
        .env("AICR_ALLOWED_ACCELERATORS", "h100,v100")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AICR_ALLOWED_ACCELERATORS") && stderr.contains("v100"), "{stderr}");
}

#[test]
fn a_broken_catalog_stops_start_up() {
    let dir = std::env::temp_dir().join(format!("aicrd-broken-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("overlays")).unwrap();
    std::fs::write(dir.join("registry.yaml"), "components: [{name: a}]\n").unwrap();
    std::fs::write(dir.join("overlays/base.yaml"), "kind: RecipeMetadata\nmetadata: {name: base}\nspec: {}\n").unwrap();
    std::fs::write(
        dir.join("overlays/x.yaml"),
        "kind: RecipeMetadata\nmetadata: {name: x}\nspec:\n  base: nowhere\n  criteria: {service: eks}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aicrd"))
        .args(["serve", "--port", "0", "--recipes"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("overlays/x.yaml") && stderr.contains("spec.base") && stderr.contains("nowhere"),
        "{stderr}"
    );
}
