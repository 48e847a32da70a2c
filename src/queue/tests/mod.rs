//! The queue against a real SQLite file and a real Redis (each test runs on
//! both backends): group commit, the bound, retention, retries, reclaiming.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderValue};

use super::*;
use crate::config;
use crate::signature::{UnverifiedBody, Verifier};

mod bodies;
mod on_redis;

use bodies::*;

/// A queued route `hook` with `extra` keys.
fn route(extra: &str) -> Arc<Route> {
    let text = format!(
        "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
         delivery = \"queued\"\n{extra}\n[routes.hook.signature]\nscheme = \"none\"\n"
    );
    let config =
        config::from_text(&text, Path::new("test.toml"), &config::Vars::default()).unwrap();
    config.routes.by_name("hook").unwrap().clone()
}

/// `bytes` through a route without a signature.
fn verified(bytes: &'static [u8]) -> VerifiedBody {
    let body = UnverifiedBody::new(Bytes::from_static(bytes));
    Verifier::None
        .verify(&HeaderMap::new(), body, SystemTime::now())
        .unwrap()
}

async fn ingest(queue: &Queue, route: &Route) -> Result<String, QueueError> {
    let body = verified(b"{}");
    let peer = Peer {
        ip: None,
        tls: false,
    };
    let request_id = HeaderValue::from_static("req-1");
    queue
        .ingest(route, &HeaderMap::new(), peer, &request_id, &body)
        .await
}

/// Each test body, run once per backend: `NAME::in_sqlite` and `NAME::on_redis`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn in_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::sqlite_queue(dir.path())).await;
            }

            #[tokio::test]
            async fn on_redis() {
                if let Some(queue) = super::redis_queue(std::time::Duration::from_secs(60)) {
                    super::$name(queue).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    concurrent_ingests_each_get_their_own_stored_event,
    concurrent_ingests_stop_exactly_at_max_queued,
    dead_letters_count_towards_max_queued,
    delivered_events_are_kept_for_their_retention_then_swept,
    a_retried_event_is_not_due_before_its_wait_and_claimed_ones_are_skipped,
    a_dead_letter_replayed_is_attempted_again_from_its_first_attempt,
    a_deferred_attempt_waits_like_a_retry_but_is_not_counted,
    an_attempt_ending_after_a_purge_records_nothing,
    a_purged_event_is_not_delivered,
    every_expired_delivered_event_is_swept_in_one_round,
    an_outbound_comes_back_from_the_store_byte_for_byte,
);

fn sqlite_queue(dir: &Path) -> Queue {
    let settings = config::StoreSettings {
        path: dir.join("q.db"),
        ..Default::default()
    };
    Queue::open(&settings).unwrap()
}

/// A queue on the local Redis under a prefix of its own, or a skip (a
/// failure where Redis is required).
fn redis_queue(visibility_timeout: Duration) -> Option<Queue> {
    redis_queue_at(&unique_prefix(), visibility_timeout)
}

/// A prefix no other test uses.
fn unique_prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4().simple())
}

/// A queue (an instance: its own consumer) on the local Redis with keys under
/// `prefix`, or a skip.
fn redis_queue_at(prefix: &str, visibility_timeout: Duration) -> Option<Queue> {
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
    let settings = config::StoreSettings {
        backend: config::StoreBackend::Redis {
            url: format!("redis://{address}").into(),
            prefix: prefix.to_string(),
        },
        visibility_timeout,
        ..Default::default()
    };
    Some(Queue::open(&settings).unwrap())
}

/// The ticket of every event in `due`.
fn tickets(due: &Due) -> HashSet<Ticket> {
    due.events.iter().map(|e| e.ticket.clone()).collect()
}
