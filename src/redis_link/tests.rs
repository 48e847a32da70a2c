//! The link's fail-fast window, and what counts as Redis failing: a refused
//! connection, not an error Redis answered with, nor a connection closed
//! under a command (made again at once).

use std::time::Duration;

use redis::AsyncCommands;

use super::{Connection, Health, Link};

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// A link to the local Redis, or a skip (a failure where Redis is required).
fn local_link() -> Option<Link> {
    let address = "127.0.0.1:6379".parse().unwrap();
    if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_err() {
        let required = std::env::var_os("HOOKGATE_REQUIRE_REDIS").is_some();
        assert!(
            !required,
            "Redis is required here but {address} does not answer"
        );
        eprintln!("skipping: no Redis on {address} (.ci/run starts one)");
        return None;
    }
    Some(Link::new(&format!("redis://{address}"), RESPONSE_TIMEOUT).unwrap())
}

async fn ping(connection: &mut Connection) -> redis::RedisResult<String> {
    redis::cmd("PING").query_async(connection).await
}

#[tokio::test]
async fn after_a_refused_connection_the_link_refuses_without_trying_again() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let link = Link::new(&format!("redis://127.0.0.1:{port}"), RESPONSE_TIMEOUT).unwrap();

    let refused = link.connection().await;
    // Something listens there now: a second attempt would reach it.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let within_the_window = link.connection().await;

    assert!(refused.is_err());
    assert!(within_the_window.is_err());
    let attempt = listener.accept();
    assert!(attempt.is_err(), "the link tried again within the window");
}

#[tokio::test]
async fn a_connection_closed_under_a_command_is_made_again_by_the_next_call() {
    let Some(link) = local_link() else { return };
    let mut connection = link.connection().await.unwrap();
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut connection)
        .await
        .unwrap();
    // Redis answers, then closes this connection, as when it restarts.
    let _: redis::RedisResult<()> = redis::cmd("CLIENT")
        .arg(&["KILL", "ID", &id.to_string(), "SKIPME", "no"][..])
        .query_async(&mut connection)
        .await;

    let lost = ping(&mut connection).await;
    let mut next = link.connection().await.expect("a new connection");

    assert!(lost.as_ref().is_err_and(|e| e.is_io_error()), "{lost:?}");
    assert_eq!(ping(&mut next).await.unwrap(), "PONG");
}

#[tokio::test]
async fn an_error_redis_answers_with_is_not_a_failure_of_redis() {
    let Some(link) = local_link() else { return };
    let mut connection = link.connection().await.unwrap();
    let key = format!("test-{}:string", uuid::Uuid::new_v4().simple());
    let () = connection.set_ex(&key, "a string", 60).await.unwrap();

    let wrong_type: redis::RedisResult<usize> = connection.lpush(&key, "item").await;

    assert!(wrong_type.is_err());
    let mut next = link.connection().await.expect("the link still serves");
    assert_eq!(ping(&mut next).await.unwrap(), "PONG");
}

#[test]
fn an_outage_ends_with_the_first_answer() {
    let mut health = Health::default();
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);

    health.failed(&refused.into());
    let during = health.refuses();
    health.answered();

    assert!(during);
    assert!(!health.refuses());
    assert!(health.down_since.is_none());
}
