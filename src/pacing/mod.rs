//! A destination's pace in queued delivery, kept across reloads: its rate
//! limit, a pause its downstream asked for with `Retry-After`, and its
//! circuit breaker.
//!
//! # Shape
//!
//! One [`Pacing`] per lane (a destination's queue), made by `Live` when the
//! lane first appears and kept by lane name, as a route's `RouteMetrics`
//! are: neither a reload nor a worker that stops and starts again closes
//! the breaker, ends a pause or refills the limiter. `LiveLane::pacing`
//! reaches it, so the worker, its attempts and `/admin/status` share it
//! without any of them knowing the others (nothing here knows `queue` or
//! `server`).
//!
//! Writers are the lane's worker (may attempts start? the probe started;
//! the limiter) and its attempts (each result): one mutex, held for a few
//! field updates, never on a webhook request. Readers load a [`PacingView`]
//! swapped in after each change: `/admin/status` takes no lock.
//!
//! - `breaker`: the breaker's state machine, pure.
//! - `rate`: the rate limiter (governor), with a burst of one.

mod breaker;
mod rate;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use tracing::{info, warn};

pub use breaker::{Admission, Breaker, Health, Phase, Transition};
pub use rate::Taken;

use crate::metrics::{DestinationLabels, Metrics};
use crate::routes::{QueueSettings, RateLimit};
use rate::Limiter;

/// The breaker's state as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BreakerState {
    /// Delivering.
    #[default]
    Closed,
    /// Down: waiting for the next probe.
    Open,
    /// The probe is in flight.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// A destination's pace as `/admin/status` shows it, in wall-clock time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingView {
    /// The breaker's state.
    pub state: BreakerState,
    /// When the breaker opened, while it is not closed.
    pub open_since: Option<SystemTime>,
    /// When the next probe may start, while open.
    pub next_probe_at: Option<SystemTime>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Until when a `Retry-After` holds every attempt back (may be past).
    pub paused_until: Option<SystemTime>,
}

/// How an attempt ended, as pacing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// What it says about the destination.
    pub health: Health,
    /// Whether it was the breaker's probe.
    pub probe: bool,
    /// The downstream's `Retry-After`, on a 429 or 503 that had one.
    pub retry_after: Option<Duration>,
}

/// What the mutex guards.
#[derive(Debug, Clone, Default, PartialEq)]
struct Gate {
    breaker: Breaker,
    paused_until: Option<Instant>,
}

/// One lane's pace: see the module's documentation.
#[derive(Debug)]
pub struct Pacing {
    route: String,
    destination: String,
    gate: Mutex<Gate>,
    limiter: Mutex<Option<Limiter>>,
    view: ArcSwap<PacingView>,
    /// `hookgate_destination_breaker_open{route, destination}`.
    open: Gauge,
}

impl Pacing {
    /// Destination `destination` of `route`: closed, not paused, its gauge
    /// at 0 from now on.
    pub fn new(metrics: &Metrics, route: &str, destination: &str) -> Self {
        let label = DestinationLabels {
            route: route.to_string(),
            destination: destination.to_string(),
        };
        let open = metrics.breaker_open.get_or_create_owned(&label);
        open.set(0);
        Self {
            route: route.to_string(),
            destination: destination.to_string(),
            gate: Mutex::default(),
            limiter: Mutex::default(),
            view: ArcSwap::default(),
            open,
        }
    }

    /// The state as last changed, without a lock.
    pub fn view(&self) -> Arc<PacingView> {
        self.view.load_full()
    }

    /// Whether attempts may start at `now`: none while a `Retry-After`
    /// pause lasts, then as the breaker says.
    pub fn admit(&self, now: Instant) -> Admission {
        let gate = self.lock();
        match gate.paused_until {
            Some(until) if until > now => Admission::Wait(Some(until)),
            _ => gate.breaker.admit(now),
        }
    }

    /// The probe [`admit`](Self::admit) allowed has started.
    pub fn probe_started(&self, now: Instant) {
        self.change(now, |gate| gate.breaker.probe_started());
    }

    /// The probe's task ended without a result: another may start.
    pub fn probe_lost(&self, now: Instant) {
        self.change(now, |gate| gate.breaker.probe_lost(now));
    }

    /// An attempt ended at `now`. Returns whether it counts against its
    /// event's attempts: not when the breaker is open once it is recorded
    /// (the failure that opened it, a failed probe, an attempt that was in
    /// flight meanwhile), so an outage does not make dead letters.
    pub fn record(&self, ended: Ended, settings: &QueueSettings, now: Instant) -> bool {
        let mut transition = None;
        let mut paused = None;
        let gate = self.change(now, |gate| {
            let breaker = &settings.breaker;
            transition = gate.breaker.record(ended.health, ended.probe, breaker, now);
            // Capped: a downstream's date far ahead must not stall the
            // destination longer than its own retry schedule would.
            let pause = ended.retry_after.map(|d| d.min(settings.retry.max_backoff));
            if let Some(until) = pause.filter(|d| !d.is_zero()).map(|d| now + d) {
                let resting = gate.paused_until.is_some_and(|at| at > now);
                gate.paused_until = Some(gate.paused_until.map_or(until, |at| at.max(until)));
                paused = (!resting).then_some(until - now);
            }
        });
        self.report(transition, paused, &gate);
        gate.breaker.is_closed()
    }

    /// Takes up to `wanted` deliveries at `rate`, if one is set. The limiter
    /// is built the first time and again only when the rate changes, so a
    /// reload that keeps it keeps the spacing.
    pub fn take(&self, rate: Option<RateLimit>, wanted: usize) -> Taken {
        let Some(rate) = rate else {
            return Taken::all(wanted);
        };
        let mut limiter = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        match &*limiter {
            Some(kept) if kept.rate() == rate => kept.take(wanted),
            _ => limiter.insert(Limiter::new(rate)).take(wanted),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `update` and publishes the view if anything changed; returns
    /// the gate as it is now.
    fn change(&self, now: Instant, update: impl FnOnce(&mut Gate)) -> Gate {
        let mut gate = self.lock();
        let before = gate.clone();
        update(&mut gate);
        if *gate != before {
            self.publish(&gate, now);
        }
        gate.clone()
    }

    fn publish(&self, gate: &Gate, now: Instant) {
        let wall_now = SystemTime::now();
        let wall = |at: Instant| match at.checked_duration_since(now) {
            Some(ahead) => wall_now + ahead,
            None => wall_now - now.duration_since(at),
        };
        let (state, open_since, next_probe_at) = match gate.breaker.phase() {
            Phase::Closed => (BreakerState::Closed, None, None),
            Phase::Open {
                since, next_probe, ..
            } => (
                BreakerState::Open,
                Some(wall(since)),
                Some(wall(next_probe)),
            ),
            Phase::HalfOpen { since, .. } => (BreakerState::HalfOpen, Some(wall(since)), None),
        };
        self.open.set(i64::from(state != BreakerState::Closed));
        self.view.store(Arc::new(PacingView {
            state,
            open_since,
            next_probe_at,
            consecutive_failures: gate.breaker.failures(),
            paused_until: gate.paused_until.map(wall),
        }));
    }

    /// One line when the breaker opens or closes, or a pause begins; none
    /// per attempt.
    fn report(&self, transition: Option<Transition>, paused: Option<Duration>, gate: &Gate) {
        let (route, destination) = (self.route.as_str(), self.destination.as_str());
        match transition {
            Some(Transition::Opened) => warn!(
                route,
                destination,
                consecutive_failures = gate.breaker.failures(),
                "destination down: circuit breaker open; its events wait without spending \
                 attempts, and one probe is sent after each cool-down"
            ),
            Some(Transition::Closed { open_for }) => info!(
                route,
                destination,
                open_for_secs = open_for.as_secs(),
                "destination answers again: circuit breaker closed, delivery resumes"
            ),
            None => {}
        }
        if let Some(pause) = paused {
            info!(
                route,
                destination,
                pause_ms = pause.as_millis() as u64,
                "the downstream asked to wait (Retry-After): every event of the destination waits"
            );
        }
    }
}

#[cfg(test)]
mod tests;
