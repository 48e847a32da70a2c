//! The thread that makes commits durable: it syncs the store's WAL file and
//! only then answers the commits' callers.
//!
//! The writing connection commits with `synchronous = NORMAL`, which writes a
//! transaction's frames to the WAL without syncing them; this thread then
//! does the sync SQLite's `FULL` would have done at the end of the commit.
//! Moved here, the sync of one batch overlaps the writer running the next,
//! so the writer never sits idle waiting for the disk. A caller still hears
//! back only once its commit is on disk: an fsync covers every byte written
//! to the file before it started. Checkpoints keep syncing on the writer
//! (SQLite syncs the WAL before a checkpoint and the database after it in
//! `NORMAL` too), so a WAL restart never overwrites frames not yet in the
//! synced database.

use std::fs::File;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use super::QueueError;

/// Called once the batch's commit is known: `Ok` once it is on disk.
pub type Done = Box<dyn FnOnce(Result<(), QueueError>) + Send>;

/// How a batch's commit went.
pub type CommitResult = Result<(), Arc<rusqlite::Error>>;

/// A committed (or rolled back) batch, waiting for the sync.
pub struct Committed {
    /// How the commit went.
    pub result: CommitResult,
    /// Its jobs' callbacks.
    pub done: Vec<Done>,
}

/// The handle committed batches are sent through.
pub struct Syncer {
    batches: Sender<Committed>,
    failed: Failed,
}

/// The first failed fsync, once there was one. The kernel may have dropped
/// the pages that failed to reach the disk, so no later fsync can be trusted
/// either (the lesson of PostgreSQL's "fsyncgate"): from then on the store
/// refuses every write that must be durable, until a restart.
type Failed = Arc<OnceLock<Arc<std::io::Error>>>;

impl Syncer {
    /// Starts the thread syncing `wal`, the store's `-wal` file.
    pub fn spawn(wal: File) -> std::io::Result<Self> {
        Self::spawn_with(move || wal.sync_data())
    }

    /// Starts the thread calling `sync` to make commits durable.
    pub(super) fn spawn_with<S>(sync: S) -> std::io::Result<Self>
    where
        S: FnMut() -> std::io::Result<()> + Send + 'static,
    {
        let (batches, receiver) = mpsc::channel();
        let failed = Failed::default();
        let failure = failed.clone();
        std::thread::Builder::new()
            .name("hookgate-sync".into())
            .spawn(move || serve(sync, receiver, failure))?;
        Ok(Self { batches, failed })
    }

    /// The error every durable write gets once an fsync has failed.
    pub fn failure(&self) -> Option<QueueError> {
        self.failed.get().cloned().map(QueueError::Sync)
    }

    /// Answers `batch` once the WAL holding it is synced.
    pub fn send(&self, batch: Committed) {
        if let Err(mpsc::SendError(batch)) = self.batches.send(batch) {
            answer(batch, Err(SyncFailed::Gone));
        }
    }
}

/// Why a sync could not confirm a commit.
#[derive(Debug, Clone)]
enum SyncFailed {
    /// This fsync or an earlier one failed (see [`Failed`]).
    Disk(Arc<std::io::Error>),
    /// The thread is gone (the process is ending).
    Gone,
}

fn serve(
    mut sync: impl FnMut() -> std::io::Result<()>,
    batches: Receiver<Committed>,
    failed: Failed,
) {
    while let Ok(first) = batches.recv() {
        // Every batch committed meanwhile shares this fsync.
        let group: Vec<Committed> = std::iter::once(first).chain(batches.try_iter()).collect();
        let synced = match failed.get() {
            Some(earlier) => Err(SyncFailed::Disk(earlier.clone())),
            None => sync().map_err(|error| {
                tracing::error!(error = %error, "cannot sync the store to disk; refusing writes until restart");
                SyncFailed::Disk(failed.get_or_init(|| Arc::new(error)).clone())
            }),
        };
        for batch in group {
            answer(batch, synced.clone());
        }
    }
}

fn answer(batch: Committed, synced: Result<(), SyncFailed>) {
    let outcome = || -> Result<(), QueueError> {
        batch.result.clone().map_err(QueueError::Store)?;
        synced.clone().map_err(|failed| match failed {
            SyncFailed::Disk(error) => QueueError::Sync(error),
            SyncFailed::Gone => QueueError::Unavailable,
        })
    };
    for then in batch.done {
        then(outcome());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a batch whose commit went as `result`; what its caller hears.
    fn heard(syncer: &Syncer, result: CommitResult) -> Result<(), QueueError> {
        let (tx, rx) = mpsc::channel();
        let done: Done = Box::new(move |outcome| tx.send(outcome).unwrap());
        syncer.send(Committed {
            result,
            done: vec![done],
        });
        rx.recv().unwrap()
    }

    #[test]
    fn a_synced_commit_is_answered_ok() {
        let syncer = Syncer::spawn(tempfile::tempfile().unwrap()).unwrap();
        assert!(heard(&syncer, Ok(())).is_ok());
    }

    #[test]
    fn a_commit_rolled_back_is_answered_with_its_error() {
        let syncer = Syncer::spawn(tempfile::tempfile().unwrap()).unwrap();
        let failed = Err(Arc::new(rusqlite::Error::InvalidQuery));
        assert!(matches!(heard(&syncer, failed), Err(QueueError::Store(_))));
    }

    #[test]
    fn after_one_failed_sync_no_later_sync_is_trusted() {
        // Fails once, then would succeed: as a disk whose failed writeback
        // the kernel has since forgotten.
        let mut calls = 0;
        let syncer = Syncer::spawn_with(move || {
            calls += 1;
            match calls {
                1 => Err(std::io::Error::other("I/O error")),
                _ => Ok(()),
            }
        })
        .unwrap();
        for _ in 0..3 {
            assert!(matches!(heard(&syncer, Ok(())), Err(QueueError::Sync(_))));
        }
        assert!(matches!(syncer.failure(), Some(QueueError::Sync(_))));
    }
}
