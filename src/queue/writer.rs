//! The one thread that writes to the store, with group commit.
//!
//! Every write (an ingest, an attempt's outcome, a replay) is a job sent to
//! this thread. It takes the first job, then every job that arrived
//! meanwhile, runs them all in one transaction and commits once, then hands
//! the batch to the [`Syncer`], whose one fsync answers it (and any other
//! batch committed meanwhile). While a commit is being synced, new jobs
//! make the next batch, so durability costs one fsync per batch rather than
//! one per request. A job's caller hears back only after the commit that
//! holds its write is on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::QueueError;
use super::syncer::{Committed, Done, Syncer};

/// The most jobs in one transaction; keeps a batch's latency bounded.
const MAX_BATCH: usize = 1024;

/// A write: runs inside the batch's transaction, says whether to keep its
/// changes, and hands back what to do once the commit is known.
type Job = Box<dyn FnOnce(&Connection, &mut Held) -> (bool, Done) + Send>;

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
        self.run_counting(move |conn, _| work(conn)).await
    }

    /// [`Writer::run`] for a `work` that reads or updates the batch's [`Held`].
    pub async fn run_counting<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Held) -> Result<T, QueueError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn, held| {
            let result = work(conn, held);
            let keep = result.is_ok();
            let done: Done = Box::new(move |committed| {
                let _ = answer.send(committed.and(result));
            });
            (keep, done)
        });
        self.jobs.send(job).map_err(|_| QueueError::Unavailable)?;
        answered.await.map_err(|_| QueueError::Unavailable)?
    }
}

fn serve(mut conn: Connection, jobs: Receiver<Job>, syncer: Syncer) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        syncer.send(commit(&mut conn, batch));
    }
}

/// Runs `batch` in one transaction, each job in its own savepoint.
fn commit(conn: &mut Connection, batch: Vec<Job>) -> Committed {
    let mut done = Vec::with_capacity(batch.len());
    let mut held = Held::new();
    let committed = (|| {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in batch {
            // Dropped without a commit, a savepoint rolls back.
            let savepoint = tx.savepoint()?;
            let (keep, then) = job(&savepoint, &mut held);
            done.push(then);
            if keep {
                savepoint.commit()?;
            }
        }
        tx.commit()
    })()
    .map_err(Arc::new);
    if let Err(error) = &committed {
        tracing::error!(error = %error, jobs = done.len(), "store commit failed");
    }
    Committed {
        result: committed,
        done,
    }
}
