//! Store errors as delivery meets them: each counted in
//! `hookgate_store_errors_total{operation}`, logged when the fault starts
//! and then at most once per [`EVERY`](crate::quiet::EVERY), and backed off: a worker
//! whose store refused waits before asking it again, so a store that keeps
//! refusing (a full disk, a lock held elsewhere) is tried a few times a
//! minute rather than in a loop.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracing::{error, info, warn};

use crate::metrics::{Metrics, StoreErrorLabel};
use crate::queue::QueueError;
use crate::quiet::Quiet;

/// The first wait after a store error; it doubles with each error in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait: how soon delivery resumes once the store answers again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What delivery asked of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// Record an attempt's outcome (a write).
    Record,
    /// Read the events due.
    Read,
    /// Read a route's counts for the queue gauges.
    Stats,
    /// Delete delivered events past their retention (a write).
    Sweep,
}

impl Operation {
    const ALL: [Operation; 4] = [Self::Record, Self::Read, Self::Stats, Self::Sweep];

    /// Its `operation` label.
    fn label(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Read => "read",
            Self::Stats => "stats",
            Self::Sweep => "sweep",
        }
    }
}

/// One worker's (or housekeeping's) view of the store's health.
#[derive(Debug)]
pub(super) struct Faults {
    errors: Family<StoreErrorLabel, Counter>,
    quiet: Quiet,
    /// No store operation before this, after an error.
    retry_at: Option<Instant>,
}

impl Faults {
    /// Counting into `metrics`, whose series for every operation exist from
    /// now on: a rate is then defined before the first error.
    pub fn new(metrics: &Metrics) -> Self {
        let errors = metrics.store_errors.clone();
        for operation in Operation::ALL {
            errors.get_or_create_owned(&label(operation));
        }
        Self {
            errors,
            quiet: Quiet::default(),
            retry_at: None,
        }
    }

    /// The store refused `operation` for `route`: counted, logged unless it
    /// was lately, and backed off.
    pub fn failed(&mut self, route: &str, operation: Operation, error: &QueueError) {
        self.errors.get_or_create(&label(operation)).inc();
        let logged = self.quiet.occurred();
        let wait = backoff(self.quiet.occurrences());
        self.retry_at = Some(Instant::now() + wait);
        let Some(held_back) = logged else {
            return;
        };
        let (op, retry_in_ms) = (operation.label(), wait.as_millis() as u64);
        match operation {
            Operation::Record => error!(
                route, operation = op, error = %error, held_back, retry_in_ms,
                "the store refused an attempt's outcome; the route's delivery waits until \
                 it is recorded, without sending the event again"
            ),
            Operation::Read => warn!(
                route, operation = op, error = %error, held_back, retry_in_ms,
                "cannot read due events; the route's delivery waits"
            ),
            Operation::Stats => warn!(
                route, operation = op, error = %error, held_back,
                "cannot read the queue's size"
            ),
            Operation::Sweep => warn!(
                route, operation = op, error = %error, held_back,
                "cannot delete expired delivered events"
            ),
        }
    }

    /// The store answered: a fault going on is over.
    pub fn answered(&mut self, route: &str) {
        self.retry_at = None;
        if let Some(errors) = self.quiet.ended() {
            info!(route, errors, "the store answers again");
        }
    }

    /// How long to wait before asking the store again, if at all.
    pub fn backoff(&self) -> Option<Duration> {
        let left = self.retry_at?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }
}

fn label(operation: Operation) -> StoreErrorLabel {
    StoreErrorLabel {
        operation: operation.label(),
    }
}

/// The wait after `errors` errors in a row.
fn backoff(errors: u32) -> Duration {
    let doublings = errors.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> QueueError {
        QueueError::Unavailable
    }

    #[test]
    fn the_wait_doubles_with_each_error_in_a_row_up_to_five_seconds() {
        let waits: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();

        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn an_error_backs_off_and_an_answer_ends_the_wait() {
        let mut faults = Faults::new(&Metrics::new());
        assert_eq!(faults.backoff(), None);

        faults.failed("r", Operation::Record, &refused());
        assert!(faults.backoff().is_some_and(|wait| wait <= FIRST_BACKOFF));

        faults.answered("r");
        assert_eq!(faults.backoff(), None);
    }

    #[test]
    fn every_error_is_counted_by_operation_and_every_series_exists_from_the_start() {
        let metrics = Metrics::new();
        let mut faults = Faults::new(&metrics);

        faults.failed("r", Operation::Record, &refused());
        faults.failed("r", Operation::Record, &refused());

        let text = metrics.render();
        assert!(
            text.contains("hookgate_store_errors_total{operation=\"record\"} 2"),
            "{text}"
        );
        for operation in ["read", "stats", "sweep"] {
            let zero = format!("hookgate_store_errors_total{{operation=\"{operation}\"}} 0");
            assert!(text.contains(&zero), "{text}");
        }
    }
}
