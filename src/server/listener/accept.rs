//! Accepting under a cap, with accept errors backed off.
//!
//! Out of file descriptors (EMFILE, ENFILE) or memory, `accept` fails at once
//! and keeps failing while the connection stays in the backlog: retrying at
//! once spins a core and starves every other task on the thread. Each
//! failure waits (10 ms, doubling to 1 s), and a burst of them is logged
//! twice: when it starts and when it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A listener whose connections each hold a permit.
pub struct Acceptor {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    cap: usize,
    /// Failed accepts in the current burst.
    failures: u64,
    /// Whether the cap is reached and was logged.
    at_cap: bool,
    /// `hookgate_accept_errors_total`.
    errors: Counter,
}

impl Acceptor {
    /// Accepts on `listener` while `permits` (`cap` of them) has one.
    pub fn new(
        listener: TcpListener,
        permits: Arc<Semaphore>,
        cap: usize,
        errors: Counter,
    ) -> Self {
        Self {
            listener,
            permits,
            cap,
            failures: 0,
            at_cap: false,
            errors,
        }
    }

    /// The next connection, or `None` at shutdown.
    pub async fn next(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return None,
                permit = self.permit() => permit,
            };
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return None,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote)) => {
                    self.recovered();
                    return Some((stream, remote, permit));
                }
                Err(error) if is_per_connection(&error) => continue,
                Err(error) => {
                    drop(permit);
                    let wait = self.failed(&error);
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// A place under the cap; waits (logged once) while there is none.
    async fn permit(&mut self) -> OwnedSemaphorePermit {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            self.at_cap = false;
            return permit;
        }
        if !self.at_cap {
            self.at_cap = true;
            tracing::warn!(
                max_connections = self.cap,
                "connection cap reached; new connections wait in the listen backlog"
            );
        }
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Logs the start of a burst; returns how long to wait before the next accept.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.failures += 1;
        self.errors.inc();
        if self.failures == 1 {
            tracing::error!(%error, "cannot accept connections; backing off");
        }
        let doublings = (self.failures - 1).min(7) as u32;
        (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::warn!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

/// Errors of one connection that left before it was accepted: accept the next.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}
