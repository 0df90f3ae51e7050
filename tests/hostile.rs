//! Hostile clients against the real accept loop (http-api spec §8): a thousand
//! slowloris connections while a normal client is served, oversized heads (431) and
//! bodies (413), bodies that never finish (408), pipelining, malformed HTTP (400 and
//! the connection closed), and clients that go away in the middle of a bundle.

#[path = "common/wire.rs"]
mod wire;

use aicrd::server::{Limits, Settings};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wire::{Conn, ReadError, Server, metric, raise_fd_limit};

/// Bound for anything that must happen "promptly": generous, since the machine is shared;
/// it only turns a hang into a failure.
const PROMPTLY: Duration = Duration::from_secs(20);

fn settings() -> Settings {
    Settings { rate_limit: 0, ..Settings::default() }
}

async fn connect(server: &Server) -> Conn<TcpStream> {
    Conn::new(TcpStream::connect(server.addr).await.unwrap())
}

/// One request on a fresh connection, answered and closed.
async fn exchange(server: &Server, raw: &[u8]) -> Result<wire::Response, ReadError> {
    let mut c = connect(server).await;
    c.stream.write_all(raw).await.unwrap();
    tokio::time::timeout(PROMPTLY, c.response("GET")).await.expect("an answer in time")
}

async fn get(server: &Server, path: &str) -> wire::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    exchange(server, raw.as_bytes()).await.unwrap()
}

async fn in_flight(server: &Server) -> f64 {
    let text = String::from_utf8(get(server, "/metrics").await.body).unwrap();
    metric(&text, "aicr_http_requests_in_flight").expect("in-flight gauge exported")
}

/// Waits until no request is in flight (the `/metrics` scrape itself is not counted).
async fn settles_to_zero(server: &Server) -> bool {
    let until = tokio::time::Instant::now() + PROMPTLY;
    while tokio::time::Instant::now() < until {
        if in_flight(server).await == 0.0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_connections_do_not_starve_a_normal_client() {
    // Each connection costs two descriptors here (client and server end).
    let limit = raise_fd_limit(4096);
    let wanted = 1000usize;
    let hostile = wanted.min((limit as usize).saturating_sub(200) / 2);
    assert!(hostile >= 200, "descriptor limit {limit} too low for this test");
    if hostile < wanted {
        eprintln!("descriptor limit {limit}: {hostile} slowloris connections instead of {wanted}");
    }
    let mut s = settings();
    s.timeouts.header = Duration::from_secs(4);
    let server = Server::start(s).await;

    let mut idle = Vec::with_capacity(hostile);
    for i in 0..hostile {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        // Two thirds trickle a head that never ends, one third say nothing at all.
        if i % 3 != 0 {
            c.write_all(b"GET /v1/recipe?service=eks HTTP/1.1\r\nHost: t\r\nX-Slow: ").await.unwrap();
        }
        idle.push(c);
    }
    // Keep trickling one byte per connection while the normal client works.
    let trickler = tokio::spawn(async move {
        for _ in 0..20 {
            for (i, c) in idle.iter_mut().enumerate() {
                if i % 3 != 0 {
                    let _ = c.write_all(b"a").await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        idle
    });

    for path in ["/v1/recipe?service=kind", "/v1/query?service=eks&selector=criteria", "/health"] {
        for _ in 0..5 {
            let r = tokio::time::timeout(PROMPTLY, get(&server, path)).await.expect("served while under slowloris");
            assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
        }
    }
    // A keep-alive client is served too, several requests on one connection.
    let mut c = connect(&server).await;
    for _ in 0..5 {
        c.stream.write_all(b"GET /v1/recipe?service=gke HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        let r = tokio::time::timeout(PROMPTLY, c.response("GET")).await.unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert!(!r.closes());
    }

    // The hostile connections are cut once their head deadline passes, unanswered.
    let idle = trickler.await.unwrap();
    let mut cut = 0;
    for c in idle.into_iter().step_by(hostile / 50) {
        let mut conn = Conn::new(c);
        if conn.closed_within(PROMPTLY).await {
            cut += 1;
        }
    }
    assert_eq!(cut, hostile.div_ceil(hostile / 50), "every sampled slowloris connection was closed");
    assert!(server.stop().await.is_ok());
}

#[tokio::test]
async fn oversized_heads_get_431_and_the_connection_is_closed() {
    let server = Server::start(settings()).await;
    // One long header line.
    let long = format!("GET /v1/recipe HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(65 * 1024));
    // Many short headers adding up past the cap.
    let mut many = String::from("GET /v1/recipe HTTP/1.1\r\nHost: t\r\n");
    for i in 0..3000 {
        many.push_str(&format!("X-H{i}: {}\r\n", "v".repeat(20)));
    }
    many.push_str("\r\n");
    // A request line longer than the cap.
    let line = format!("GET /v1/recipe?service={} HTTP/1.1\r\nHost: t\r\n\r\n", "e".repeat(70 * 1024));
    for raw in [long, many, line] {
        let mut c = connect(&server).await;
        let _ = c.stream.write_all(raw.as_bytes()).await;
        let r = tokio::time::timeout(PROMPTLY, c.response("GET")).await.unwrap().unwrap();
        assert_eq!(r.status, 431, "{}", &raw[..40]);
        assert!(c.closed_within(PROMPTLY).await, "connection closed after 431");
    }
    assert_eq!(get(&server, "/v1/recipe?service=eks").await.status, 200);
    assert!(server.stop().await.is_ok());
}

fn post(path: &str, content_type: &str, body_head: &str, extra: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n{extra}\r\n{body_head}")
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let limits = Limits { recipe_body: 4096, bundle_body: 8192 };
    let server = Server::start(Settings { limits, ..settings() }).await;
    // Declared too large: refused before the body is read.
    for (path, limit) in [("/v1/recipe", 4096), ("/v1/query", 4096), ("/v1/bundle", 8192)] {
        let raw = post(path, "application/json", "", &format!("Content-Length: {}\r\n", limit + 1));
        let r = exchange(&server, raw.as_bytes()).await.unwrap();
        assert_eq!(r.status, 413, "{path}");
        let v = r.json();
        assert_eq!(v["code"], "INVALID_REQUEST");
        assert_eq!(v["details"]["limit_bytes"], limit);
    }
    // Chunked, with no declared length: cut when the stream passes the cap.
    for (path, limit) in [("/v1/recipe", 4096usize), ("/v1/bundle", 8192)] {
        let mut c = connect(&server).await;
        c.stream
            .write_all(post(path, "application/json", "", "Transfer-Encoding: chunked\r\n").as_bytes())
            .await
            .unwrap();
        let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
        for _ in 0..(limit / 0x400 + 2) {
            if c.stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let r = tokio::time::timeout(PROMPTLY, c.response("POST")).await.unwrap().unwrap();
        assert_eq!(r.status, 413, "{path} chunked");
        assert_eq!(r.json()["details"]["limit_bytes"], limit);
    }
    assert!(server.stop().await.is_ok());
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408() {
    let mut s = settings();
    s.timeouts.body = Duration::from_millis(500);
    let server = Server::start(s).await;
    let cases = [
        post("/v1/recipe", "application/json", r#"{"spec":"#, "Content-Length: 100\r\n"),
        post("/v1/query", "application/json", r#"{"criteria""#, "Content-Length: 100\r\n"),
        post("/v1/bundle", "application/json", r#"{"kind""#, "Content-Length: 100\r\n"),
        post("/v1/recipe", "application/json", "5\r\n{\"spe\r\n", "Transfer-Encoding: chunked\r\n"),
    ];
    for raw in &cases {
        let mut c = connect(&server).await;
        c.stream.write_all(raw.as_bytes()).await.unwrap();
        // The client stays connected and silent.
        let r = tokio::time::timeout(PROMPTLY, c.response("POST")).await.unwrap().unwrap();
        assert_eq!(r.status, 408, "{}", raw.lines().next().unwrap());
        let v = r.json();
        assert_eq!(v["code"], "TIMEOUT");
        assert_eq!(v["retryable"], true);
    }
    assert!(settles_to_zero(&server).await);
    assert!(server.stop().await.is_ok());
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(settings()).await;
    let body = r#"{"criteria":{"service":"gke"},"selector":"criteria.service"}"#;
    let batch = format!(
        "GET /v1/recipe?service=eks HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /nope HTTP/1.1\r\nHost: t\r\n\r\n\
         HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /v1/query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}\
         GET /v1/query?service=aks&selector=criteria.service HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /v1/recipe?service=bogus HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut c = connect(&server).await;
    c.stream.write_all(batch.as_bytes()).await.unwrap();
    let mut answers = Vec::new();
    for method in ["GET", "GET", "HEAD", "POST", "GET", "GET"] {
        answers.push(tokio::time::timeout(PROMPTLY, c.response(method)).await.unwrap().unwrap());
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 200, 200, 200, 400]);
    assert_eq!(answers[0].json()["criteria"]["service"], "eks");
    assert_eq!(answers[1].json()["details"]["path"], "/nope");
    assert!(answers[2].body.is_empty());
    assert_eq!(answers[3].json(), "gke");
    assert_eq!(answers[4].json(), "aks");
    assert!(answers[5].closes());
    assert!(c.closed_within(PROMPTLY).await);
    assert!(server.stop().await.is_ok());
}

#[tokio::test]
async fn malformed_http_gets_400_and_the_connection_is_closed() {
    let server = Server::start(settings()).await;
    let cases: [&[u8]; 9] = [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/recipe HTTP/1.1\r\nHost t\r\n\r\n",
        b"GET /v1/recipe HTTP/1.1\r\nHo st: t\r\n\r\n",
        b"GET /v1/recipe HTTP/1.1\r\nHost: t\x00\r\n\r\n",
        b"GET /v1/recipe\xff HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /v1/recipe HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/recipe HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
        b"POST /v1/recipe HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nab",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ];
    for raw in cases {
        let mut c = connect(&server).await;
        c.stream.write_all(raw).await.unwrap();
        let what = String::from_utf8_lossy(raw).into_owned();
        match tokio::time::timeout(PROMPTLY, c.response("GET")).await.expect("answered or closed in time") {
            Ok(r) => assert_eq!(r.status, 400, "{what:?}"),
            Err(e) => panic!("{what:?}: no 400 ({e:?})"),
        }
        assert!(c.closed_within(PROMPTLY).await, "{what:?}: connection closed after 400");
    }
    // A chunked body with a broken chunk size ends the request with 400 from the handler.
    let mut c = connect(&server).await;
    c.stream
        .write_all(b"POST /v1/recipe HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .await
        .unwrap();
    let r = tokio::time::timeout(PROMPTLY, c.response("POST")).await.unwrap().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "INVALID_REQUEST");
    assert_eq!(get(&server, "/health").await.status, 200);
    assert!(server.stop().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_mid_bundle_leave_nothing_behind() {
    let server = Server::start(settings()).await;
    let recipe = get(&server, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu").await;
    assert_eq!(recipe.status, 200);
    let body = recipe.body;
    let head = |len: usize| {
        format!(
            "POST /v1/bundle HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // The request works when the client stays.
    let mut raw = head(body.len()).into_bytes();
    raw.extend_from_slice(&body);
    let ok = exchange(&server, &raw).await.unwrap();
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.header("content-type"), Some("application/zip"));

    // Gone while the body is being sent, right after the whole request, or while the
    // answer is being written: several of each, so that some land in generation.
    for round in 0..30 {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        match round % 3 {
            0 => {
                c.write_all(head(body.len()).as_bytes()).await.unwrap();
                c.write_all(&body[..body.len() / 2]).await.unwrap();
            }
            1 => c.write_all(&raw).await.unwrap(),
            _ => {
                c.write_all(&raw).await.unwrap();
                tokio::time::sleep(Duration::from_millis(round as u64 % 7)).await;
            }
        }
        drop(c);
    }
    assert!(settles_to_zero(&server).await, "in-flight gauge back to 0 after the clients left");
    // And the server still does the work for a client that stays.
    let again = exchange(&server, &raw).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.body.len(), ok.body.len());
    assert!(server.stop().await.is_ok(), "nothing left to drain");
}

/// The link between "the handler future was dropped" (what the in-flight gauge shows
/// above) and "the generation stops": the handler holds a `CancelOnDrop`, and the
/// generation checks the flag it sets (`bundle_generate.rs` shows a set flag stops it).
#[test]
fn dropping_the_handler_guard_cancels_the_generation() {
    use aicrd::bundle::{BundleError, Cancel, CancelOnDrop};
    let cancel = Cancel::new(None);
    let guard = CancelOnDrop(Some(cancel.clone()));
    assert_eq!(cancel.check(), Ok(()));
    drop(guard);
    assert_eq!(cancel.check(), Err(BundleError::Cancelled));
}
