//! The one thread that writes to the store, with group commit.
//!
//! Every write (an ingest, an attempt's outcome, a replay) is a job sent to
//! this thread. It takes the first job, then every job that arrived
//! meanwhile, runs them all in one transaction and commits once, then hands
//! the batch to the [`Syncer`], whose one fsync answers it (and any other
//! batch committed meanwhile). While a commit is being synced, new jobs
//! make the next batch, so durability costs one fsync per batch rather than
//! one per request. A job's caller hears back only after the commit that
//! holds its write is on disk, except for writes whose loss in a power cut
//! would only repeat work (an attempt's outcome, a sweep): those are answered
//! once committed, and reach the disk with the next sync.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::QueueError;
use super::syncer::{CommitResult, Committed, Done, Syncer};
use crate::quiet::Quiet;

/// The most jobs in one transaction; keeps a batch's latency bounded.
const MAX_BATCH: usize = 1024;

/// A write: runs inside the batch's transaction (unless refused), says
/// whether to keep its changes, and hands back what to do once the commit is
/// known.
type Write = Box<dyn FnOnce(&Connection, &mut Held, Option<QueueError>) -> (bool, Done) + Send>;

/// When a write's caller hears back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Once the commit is on disk: what a `202` promises.
    Synced,
    /// Once committed: a power cut may undo it, and only work is repeated
    /// (an event delivered again, an attempt made again).
    Committed,
}

struct Job {
    write: Write,
    wait: Wait,
}

/// Undelivered events per route as of this batch's writes so far: the
/// ingest bound reads the store once per route and batch, not per event.
/// Only ingests update it, so within a batch it can only overcount (a
/// delivery in the same batch is not subtracted): the bound is never exceeded.
pub type Held = HashMap<String, u64>;

/// The handle jobs are sent through; the thread ends when it is dropped.
#[derive(Debug)]
pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Starts the thread owning `conn`, whose commits `syncer` makes durable.
    pub fn spawn(conn: Connection, syncer: Syncer) -> std::io::Result<Self> {
        let (jobs, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("hookgate-store".into())
            .spawn(move || serve(conn, receiver, syncer))?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the next batch; answers once the batch is committed.
    /// A failing `work` has its changes rolled back, the batch's others kept.
    pub async fn run<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, QueueError> + Send + 'static,
    {
        self.submit(Wait::Synced, move |conn, _| work(conn)).await
    }

    /// [`Writer::run`] for a `work` that reads or updates the batch's [`Held`].
    pub async fn run_counting<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Held) -> Result<T, QueueError> + Send + 'static,
    {
        self.submit(Wait::Synced, work).await
    }

    /// [`Writer::run`] for a write that a power cut may undo because undoing
    /// it only repeats work: answers once committed, without waiting for the
    /// sync.
    pub async fn run_unsynced<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, QueueError> + Send + 'static,
    {
        self.submit(Wait::Committed, move |conn, _| work(conn))
            .await
    }

    async fn submit<T, F>(&self, wait: Wait, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Held) -> Result<T, QueueError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let write: Write = Box::new(move |conn, held, refused| {
            let result = match refused {
                Some(error) => Err(error),
                None => work(conn, held),
            };
            let keep = result.is_ok();
            let done: Done = Box::new(move |committed| {
                let _ = answer.send(committed.and(result));
            });
            (keep, done)
        });
        let job = Job { write, wait };
        self.jobs.send(job).map_err(|_| QueueError::Unavailable)?;
        answered.await.map_err(|_| QueueError::Unavailable)?
    }
}

fn serve(mut conn: Connection, jobs: Receiver<Job>, syncer: Syncer) {
    let mut failures = Quiet::default();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (result, done) = commit(&mut conn, batch, syncer.failure());
        log_commit(&mut failures, &result, done.len());
        let (synced, committed): (Vec<_>, Vec<_>) = done
            .into_iter()
            .partition(|(wait, _)| *wait == Wait::Synced);
        for (_, then) in committed {
            then(result.clone().map_err(QueueError::Store));
        }
        if !synced.is_empty() {
            let done = synced.into_iter().map(|(_, then)| then).collect();
            syncer.send(Committed { result, done });
        }
    }
}

/// Runs `batch` in one transaction, each job in its own savepoint; how the
/// commit went, and each job's callback.
///
/// After a failed fsync (`failure`), the jobs that must be durable fail
/// without running; the others still run: an attempt's outcome must still be
/// recorded, or delivery would repeat every event it cannot mark delivered.
fn commit(
    conn: &mut Connection,
    batch: Vec<Job>,
    failure: Option<QueueError>,
) -> (CommitResult, Vec<(Wait, Done)>) {
    let mut done = Vec::with_capacity(batch.len());
    let mut held = Held::new();
    let committed = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in batch {
            // Cached statements: rusqlite's `Savepoint` parses its SQL anew
            // for every job, twice.
            tx.prepare_cached("SAVEPOINT job")?.execute([])?;
            let refused = failure.clone().filter(|_| job.wait == Wait::Synced);
            let (keep, then) = (job.write)(&tx, &mut held, refused);
            done.push((job.wait, then));
            if !keep {
                tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            tx.prepare_cached("RELEASE job")?.execute([])?;
        }
        tx.commit()
    })()
    .map_err(Arc::new);
    (committed, done)
}

/// Logs a failed commit of `jobs` jobs, at most once per [`EVERY`](crate::quiet::EVERY)
/// while commits keep failing (each caller hears of its own failure), and
/// the first commit after them.
fn log_commit(failures: &mut Quiet, result: &CommitResult, jobs: usize) {
    match result {
        Err(error) => {
            if let Some(held_back) = failures.occurred() {
                tracing::error!(error = %error, jobs, held_back, "store commit failed");
            }
        }
        Ok(()) => {
            if let Some(failed) = failures.ended() {
                tracing::info!(failed, "the store commits again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::queue::sqlite::sql;

    #[tokio::test]
    async fn an_unsynced_write_is_answered_at_commit_and_a_synced_one_only_after_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let conn = sql::connect_writer(&dir.path().join("q.db")).unwrap();
        // A disk whose sync takes until the test releases it.
        let (release, released) = mpsc::channel::<()>();
        let syncer = Syncer::spawn_with(move || {
            let _ = released.recv();
            Ok(())
        })
        .unwrap();
        let writer = Arc::new(Writer::spawn(conn, syncer).unwrap());
        let synced = tokio::spawn({
            let writer = writer.clone();
            async move { writer.run(|_| Ok(())).await }
        });

        let unsynced = writer.run_unsynced(|_| Ok(()));
        tokio::time::timeout(Duration::from_secs(1), unsynced)
            .await
            .expect("answered while the sync is still running")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !synced.is_finished(),
            "a synced write was answered before its sync"
        );
        release.send(()).unwrap();
        synced.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn after_a_failed_fsync_durable_writes_are_refused_unrun_and_outcomes_still_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let conn = sql::connect_writer(&dir.path().join("q.db")).unwrap();
        let syncer = Syncer::spawn_with(|| Err(std::io::Error::other("I/O error"))).unwrap();
        let writer = Writer::spawn(conn, syncer).unwrap();
        let first = writer.run(|_| Ok(())).await;
        assert!(matches!(first, Err(QueueError::Sync(_))), "{first:?}");

        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mark_ran = || {
            let flag = ran.clone();
            move |_: &Connection| {
                flag.store(true, Ordering::SeqCst);
                Ok::<_, QueueError>(())
            }
        };
        let durable = writer.run(mark_ran()).await;
        assert!(matches!(durable, Err(QueueError::Sync(_))), "{durable:?}");
        assert!(!ran.load(Ordering::SeqCst), "a refused write ran");

        let outcome = writer.run_unsynced(mark_ran()).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert!(ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_failing_write_is_rolled_back_and_the_batch_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let syncer = Syncer::spawn_with(|| Ok(())).unwrap();
        let writer = Writer::spawn(sql::connect_writer(&path).unwrap(), syncer).unwrap();
        let count = |route: &'static str| {
            move |conn: &Connection| {
                conn.execute("INSERT INTO counts VALUES (?1, 'pending', 1)", [route])?;
                Ok(())
            }
        };
        let failing = writer.run(move |conn| {
            count("failed")(conn)?;
            Err::<(), _>(QueueError::Unavailable)
        });
        let (failed, kept) = tokio::join!(failing, writer.run(count("kept")));

        assert!(matches!(failed, Err(QueueError::Unavailable)), "{failed:?}");
        kept.unwrap();
        let reader = sql::connect(&path).unwrap();
        let routes: Vec<String> = reader
            .prepare("SELECT route FROM counts")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(routes, ["kept"]);
    }
}
