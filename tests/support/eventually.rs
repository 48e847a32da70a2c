//! The one way a test waits: for a condition that proves the thing happened.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How long [`eventually`] waits, in all, before failing the test: long
/// enough for a loaded CI machine, short enough to fail a stuck test.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often [`eventually`] checks.
const POLL: Duration = Duration::from_millis(20);

/// Checks `condition` every 20 ms until it holds; panics naming `what` when it
/// has not held within [`PATIENCE`] (a check that hangs counts against it too).
pub async fn eventually<F, Fut>(what: impl Display, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::time::sleep(POLL).await;
        }
    };
    if tokio::time::timeout(PATIENCE, wait).await.is_err() {
        panic!("not within {PATIENCE:?}: {what}");
    }
}
