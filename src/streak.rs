//! Failure streaks per route and the runbook's escalation rule.
//!
//! Runbook: if 5xx answers persist for more than 5 minutes, escalate to the
//! downstream's owner. A streak starts at the first failure after a success;
//! once it is older than the route's `alert_after`, one WARN says so, and one
//! INFO says when the route recovers.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tracing::{info, warn};

/// What is known about a route's recent deliveries.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Streak {
    /// When the current failure streak began (unix seconds), if failing.
    pub failing_since: Option<u64>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// The last failure's downstream status, if it answered.
    pub last_status: Option<u16>,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When the last success happened (unix seconds).
    pub last_success: Option<u64>,
    #[serde(skip)]
    started: Option<Instant>,
    #[serde(skip)]
    escalated: bool,
}

fn unix_now() -> u64 {
    crate::signature::unix_seconds(SystemTime::now())
}

impl Streak {
    /// Records a failure; logs the escalation once the streak outlasts `alert_after`.
    pub fn failed(
        &mut self,
        route: &str,
        status: Option<u16>,
        error: String,
        alert_after: Duration,
    ) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.failing_since.get_or_insert_with(unix_now);
        self.consecutive_failures += 1;
        self.last_status = status;
        self.last_error = Some(error);
        if !self.escalated && started.elapsed() >= alert_after {
            self.escalated = true;
            warn!(
                route,
                failing_for_secs = started.elapsed().as_secs(),
                consecutive_failures = self.consecutive_failures,
                last_status = ?self.last_status,
                last_error = ?self.last_error,
                "route failing for longer than alert_after: escalate to the downstream's owner"
            );
        }
    }

    /// Records a success, ending any streak.
    pub fn succeeded(&mut self, route: &str) {
        if self.escalated {
            info!(
                route,
                consecutive_failures = self.consecutive_failures,
                "route recovered"
            );
        }
        *self = Streak {
            last_success: Some(unix_now()),
            ..Streak::default()
        };
    }

    /// How long the current streak has lasted; zero when not failing.
    pub fn failing_for(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }
}
