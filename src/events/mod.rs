//! The event log: one record per request that reached a route, whatever its
//! outcome, and one per delivery attempt, in a SQLite file beside the store
//! (`hookgate-events.db` next to `hookgate.db`).
//!
//! Writing never slows or fails a request: records go through a bounded
//! channel to one writer thread that inserts them in batches. When it falls
//! behind, records are dropped and counted
//! (`hookgate_event_log_dropped_total`), never waited for. The writer also
//! prunes each route to its `retention` and `max_events`, so the log cannot
//! fill the disk.

mod checkpoint;
mod prune;
pub mod query;
mod record;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use prometheus_client::metrics::counter::Counter;

pub use record::{
    ANSWER_EXCERPT, AttemptRecord, REDACTED, RequestRecord, delivery_id, redacted_headers, unix_ms,
};

pub use writer::BUSY_TIMEOUT;

/// Records waiting for the writer; past it they are dropped.
pub const BACKLOG: usize = 4096;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the event log {path}: {source}")]
pub struct OpenError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// What the writer is sent.
#[derive(Debug)]
enum Entry {
    Request(Box<RequestRecord>),
    Attempt {
        event_id: String,
        route: String,
        attempt: AttemptRecord,
    },
}

/// The handle requests and delivery record through; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    entries: SyncSender<Entry>,
    dropped: Counter,
}

impl EventLog {
    /// Opens (or creates) the log at `path` and starts its writer; records
    /// the writer cannot take in time are counted in `dropped`.
    pub fn open(path: &Path, dropped: Counter) -> Result<Self, OpenError> {
        let connection = writer::open(path).map_err(|source| OpenError {
            path: path.to_path_buf(),
            source,
        })?;
        let (entries, received) = sync_channel(BACKLOG);
        let (alive, writer_alive) = sync_channel(0);
        let pause = checkpoint::Pause::default();
        checkpoint::spawn(path, writer_alive, pause.clone());
        writer::spawn(connection, received, dropped.clone(), alive, pause);
        Ok(Self { entries, dropped })
    }

    /// Records one request.
    pub fn record(&self, record: RequestRecord) {
        self.send(Entry::Request(Box::new(record)));
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
