//! The event log: one record per request that reached a route, whatever its
//! outcome, and one per delivery attempt. Where it is kept follows
//! `[store] backend`: a SQLite file beside the store (`hookgate-events.db`
//! next to `hookgate.db`), or Redis, shared by every instance
//! (`redis_log`).
//!
//! Writing never slows or fails a request: records go through a bounded
//! channel to one writer thread that writes them in batches. When it falls
//! behind, records are dropped and counted
//! (`hookgate_event_log_dropped_total`), never waited for. The writer also
//! prunes each route to its `retention` and `max_events`, so the log cannot
//! fill the disk.
//!
//! [`EventLog`] writes, [`Reader`] reads, whichever the backend.

mod budget;
mod checkpoint;
mod priority;
mod prune;
pub mod query;
mod reader;
mod record;
mod redis_log;
mod upgrade;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use secrecy::ExposeSecret;

use crate::config::{StoreBackend, StoreSettings};
use budget::{Budget, Claim};

pub use record::{
    ANSWER_EXCERPT, AttemptRecord, HeaderCopy, LoggedHeader, REDACTED, RequestRecord,
    clipped_delivery_id, delivery_id, unix_ms,
};

pub use prune::{Bounds, Configured, Limits, first_id_at};
pub use reader::{ReadError, Reader};
pub use redis_log::RedisLogError;
pub use writer::{BUSY_TIMEOUT, open as open_file};

/// Records waiting for the writer; past it they are dropped.
pub const BACKLOG: usize = 4096;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The SQLite file.
    #[error("cannot open the event log {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// An invalid Redis URL (config validation refuses it first).
    #[error("cannot open the event log on Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What the writer is sent.
#[derive(Debug)]
enum Entry {
    /// A request, with its claim on the memory waiting records may take
    /// (given back when the entry is dropped, written or not).
    Request {
        record: Box<RequestRecord>,
        _claim: Claim,
    },
    Attempt {
        event_id: String,
        route: String,
        attempt: AttemptRecord,
    },
}

/// The log's own metrics.
#[derive(Debug, Clone, Default)]
pub struct LogMetrics {
    /// `hookgate_event_log_dropped_total`: records the writer could not
    /// take in time, or could not write.
    pub dropped: Counter,
    /// `hookgate_event_log_waiting_bytes`: what the records waiting for the
    /// writer hold, out of [`budget::BUDGET`].
    pub waiting_bytes: Gauge,
    /// `hookgate_event_log_bodies_shed_total`: records that waited for the
    /// writer without their body and headers (past [`budget::BODIES`]).
    pub bodies_shed: Counter,
}

/// The handle requests and delivery record through; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    entries: SyncSender<Entry>,
    dropped: Counter,
    bodies_shed: Counter,
    budget: Budget,
}

impl EventLog {
    /// Opens the log where `store` keeps it (see [`EventLog::open`] and
    /// [`EventLog::on_redis`]).
    pub fn for_store(
        store: &StoreSettings,
        metrics: LogMetrics,
        configured: Configured,
    ) -> Result<Self, OpenError> {
        match &store.backend {
            StoreBackend::Embedded => {
                let limits = Limits {
                    routes: configured,
                    max_bytes: store.log_max_bytes,
                };
                Self::open(&path_beside(&store.path), metrics, limits)
            }
            StoreBackend::Redis { url, prefix } => {
                Self::on_redis(url.expose_secret(), prefix, metrics)
            }
        }
    }

    /// Starts a writer to the log on the Redis at `url`, keys under
    /// `prefix`; records the writer cannot take in time, or cannot write
    /// (Redis down), are counted in `metrics.dropped`.
    pub fn on_redis(url: &str, prefix: &str, metrics: LogMetrics) -> Result<Self, OpenError> {
        let (entries, received) = sync_channel(BACKLOG);
        redis_log::spawn_writer(url, prefix, received, metrics.dropped.clone())?;
        Ok(Self::new(entries, metrics))
    }

    /// Opens (or creates) the log at `path` and starts its writer; records
    /// the writer cannot take in time are counted in `metrics.dropped`. The log is
    /// kept within `limits` (on Redis, a record's keys expire by themselves).
    pub fn open(path: &Path, metrics: LogMetrics, limits: Limits) -> Result<Self, OpenError> {
        let connection = writer::open(path).map_err(|source| OpenError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let (entries, received) = sync_channel(BACKLOG);
        let (alive, writer_alive) = sync_channel(0);
        let pause = checkpoint::Pause::default();
        checkpoint::spawn(path, writer_alive, pause.clone());
        let dropped = metrics.dropped.clone();
        writer::spawn(connection, received, dropped, alive, pause, limits);
        Ok(Self::new(entries, metrics))
    }

    fn new(entries: SyncSender<Entry>, metrics: LogMetrics) -> Self {
        Self {
            entries,
            dropped: metrics.dropped,
            bodies_shed: metrics.bodies_shed,
            budget: Budget::new(budget::BUDGET, metrics.waiting_bytes),
        }
    }

    /// Records one request: without its body and headers once the records
    /// waiting hold [`budget::BODIES`] bytes, not at all when it would take
    /// them past [`budget::BUDGET`].
    pub fn record(&self, mut record: RequestRecord) {
        let whole = self.budget.claim_below(record.weight(), budget::BODIES);
        let claim = whole.or_else(|| {
            if record.shed_body() {
                self.bodies_shed.inc();
            }
            self.budget.claim(record.weight())
        });
        let Some(claim) = claim else {
            self.dropped.inc();
            return;
        };
        self.send(Entry::Request {
            record: Box::new(record),
            _claim: claim,
        });
    }

    /// Records one delivery attempt of a stored event.
    pub fn attempt(&self, event_id: &str, route: &str, attempt: AttemptRecord) {
        self.send(Entry::Attempt {
            event_id: event_id.to_string(),
            route: route.to_string(),
            attempt,
        });
    }

    fn send(&self, entry: Entry) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.entries.try_send(entry)
        {
            self.dropped.inc();
        }
    }
}

/// The event log's file for a store at `store_path`: `hookgate.db` →
/// `hookgate-events.db`, beside it. A file of its own, so that writing the
/// log never waits on the queue's fsyncs, nor they on it.
pub fn path_beside(store_path: &Path) -> PathBuf {
    let stem = store_path
        .file_stem()
        .map_or_else(|| "hookgate".into(), |s| s.to_string_lossy());
    store_path.with_file_name(format!("{stem}-events.db"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::SystemTime;

    use bytes::Bytes;
    use rusqlite::Connection;

    use super::*;
    use crate::config;
    use crate::routes::Route;

    /// A route `hook` of the scheme `none` (also for `record`'s tests).
    pub(super) fn route() -> Arc<Route> {
        let text = "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
                    [routes.hook.signature]\nscheme = \"none\"\n";
        let config =
            config::from_text(text, Path::new("t.toml"), &config::Vars::default()).unwrap();
        config.routes.by_name("hook").unwrap().clone()
    }

    fn with_body(route: &Arc<Route>, body: &[u8]) -> RequestRecord {
        RequestRecord {
            id: uuid::Uuid::now_v7().to_string(),
            received_at: SystemTime::now(),
            route: route.clone(),
            request_id: "r".into(),
            delivery_id: None,
            status: 200,
            outcome: "forwarded",
            reason: None,
            body_size: body.len(),
            duration_ms: 1,
            headers: None,
            body: Some(Bytes::copy_from_slice(body)),
            attempt: None,
        }
    }

    /// A log whose writer waits on a lock held for as long as the returned
    /// connection is: every record sent waits.
    fn stalled_log(dir: &Path) -> (EventLog, LogMetrics, Connection) {
        let path = dir.join("hookgate-events.db");
        drop(writer::open(&path).unwrap());
        // The writer's first batch waits on this lock.
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let metrics = LogMetrics::default();
        let limits = Limits {
            routes: Box::new(HashMap::new),
            max_bytes: u64::MAX,
        };
        let log = EventLog::open(&path, metrics.clone(), limits).unwrap();
        (log, metrics, holder)
    }

    #[test]
    fn once_8_mib_of_records_wait_a_record_waits_without_its_body_and_none_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (log, metrics, _holder) = stalled_log(dir.path());
        let (route, body) = (route(), vec![b'x'; 1024 * 1024]);

        for _ in 0..40 {
            log.record(with_body(&route, &body));
        }

        // Records of a little over 1 MiB: once 8 of them wait (a little
        // over 8 MiB), the 32 others wait without their bodies, which
        // leaves them a few hundred bytes.
        assert_eq!(metrics.bodies_shed.get(), 32);
        assert_eq!(metrics.dropped.get(), 0);
        let waiting = metrics.waiting_bytes.get();
        assert!(waiting >= budget::BODIES as i64, "{waiting}");
        assert!(waiting <= 9 * 1024 * 1024 + 32 * 1024, "{waiting}");
    }

    #[test]
    fn a_body_of_more_than_8_mib_is_kept_when_no_record_waits_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log, metrics, _holder) = stalled_log(dir.path());
        let route = route();

        log.record(with_body(&route, &vec![b'x'; 10 * 1024 * 1024]));
        assert_eq!(metrics.bodies_shed.get(), 0);
        log.record(with_body(&route, b"{}"));

        assert_eq!(metrics.bodies_shed.get(), 1, "10 MiB wait before it");
        assert_eq!(metrics.dropped.get(), 0);
    }

    #[test]
    fn records_waiting_for_a_stalled_writer_hold_at_most_the_budget_the_rest_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (log, metrics, _holder) = stalled_log(dir.path());
        let route = route();
        // Nothing to shed: what a record holds beside a body (a reason here).
        let refused = || RequestRecord {
            reason: Some("x".repeat(1024 * 1024)),
            body: None,
            ..with_body(&route, b"")
        };

        for _ in 0..40 {
            log.record(refused());
        }

        // 16 MiB hold 15 records of a little over 1 MiB: the channel
        // (4,096 records) would have taken all 40.
        assert_eq!(metrics.dropped.get(), 25);
        assert_eq!(metrics.bodies_shed.get(), 0);
        assert!(metrics.waiting_bytes.get() <= budget::BUDGET as i64);
        assert!(metrics.waiting_bytes.get() >= 15 * 1024 * 1024);
    }
}
