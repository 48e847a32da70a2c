//! Connection deadlines against raw clients: slow heads, idle keep-alive
//! connections, clients that never read, and no cleartext HTTP/2.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::*;

/// A config whose `[server]` also has `keys`.
fn server_with(keys: &str) -> String {
    with_server_keys(&chatwoot_config("http://127.0.0.1:9/unused", ""), keys)
}

/// Whether the server has closed `stream` (EOF or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_cut_off_at_the_header_timeout() {
    let app = spawn_app(&server_with(r#"header_timeout = "1s""#)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /api/webhooks/chatwoot HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();

    // One header byte every 200 ms: activity, but never a whole head.
    let mut closed = false;
    while !closed && started.elapsed() < Duration::from_secs(5) {
        let _ = stream.write_all(b"X").await;
        closed = closed_within(&mut stream, Duration::from_millis(200)).await;
    }

    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(900));
    let series = "hookgate_connections_closed_total{reason=\"header_timeout\"}";
    assert_eq!(app.metric(series).await, 1.0);
}

#[tokio::test]
async fn a_keep_alive_connection_outlives_the_header_timeout_and_closes_at_the_idle_timeout() {
    let keys = "header_timeout = \"1s\"\nidle_timeout = \"3s\"";
    let app = spawn_app(&server_with(keys)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let mut buffer = [0u8; 1024];
    let read = stream.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));

    // Idle for longer than the header timeout: the connection stays usable.
    assert!(!closed_within(&mut stream, Duration::from_millis(1500)).await);
    stream.write_all(request).await.unwrap();
    let read = stream.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));

    let idle_since = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(6)).await);
    assert!(idle_since.elapsed() >= Duration::from_millis(2900));
    let series = "hookgate_connections_closed_total{reason=\"idle_timeout\"}";
    assert_eq!(app.metric(series).await, 1.0);
}

#[tokio::test]
async fn a_client_that_pipelines_and_never_reads_is_disconnected_at_the_write_timeout() {
    let app = spawn_app(&server_with(r#"write_timeout = "1s""#)).await;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small window so the server's writes block soon.
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&app.addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    // The docs page is large: a few answers fill every buffer on the way.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let request = b"GET /docs HTTP/1.1\r\nHost: gateway\r\n\r\n";
        for _ in 0..200 {
            if stream.write_all(request).is_err() {
                return;
            }
        }
        // Keep the socket (and its unread answers) open until the server gives up.
        std::thread::sleep(Duration::from_secs(10));
    });

    let series = "hookgate_connections_closed_total{reason=\"write_timeout\"}";
    eventually("the stalled connection is closed", || async {
        app.metric(series).await == 1.0
    })
    .await;
    drop(writer);
    eventually("no connection is left open", || async {
        app.metric("hookgate_open_connections").await <= 1.0
    })
    .await;
}

#[tokio::test]
async fn cleartext_http2_is_not_spoken() {
    let app = spawn_app(&server_with("")).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // The HTTP/2 connection preface with prior knowledge, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();

    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;

    // An HTTP/2 server answers with its own SETTINGS frame (type 4).
    let settings_frame = answer.len() >= 9 && answer[3] == 4;
    assert!(!settings_frame, "answered in HTTP/2: {answer:?}");
}
