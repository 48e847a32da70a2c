//! One attempt at one stored event: the downstream call, what its result
//! says about the destination (fed to its pace: breaker and `Retry-After`),
//! and what it means for the event.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use poem::http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use tracing::{Instrument, error, info, info_span, warn};

use crate::events::{AttemptRecord, EventLog};
use crate::forward::{self, Delivered, ForwardError, Forwarder};
use crate::metrics::{DestinationAttemptLabels, Metrics, RouteMetrics};
use crate::pacing::{Ended, Health, Pacing};
use crate::queue::{Finish, Queue, QueueError, StoredEvent, backoff};
use crate::routes::{Destination, Route};
use crate::telemetry::Traces;

/// One attempt at one event, on the route and destination as they were
/// configured when it started.
pub(super) struct Attempt {
    pub route: Arc<Route>,
    pub destination: Arc<Destination>,
    pub counted: Counted,
    pub metrics: Arc<RouteMetrics>,
    pub pacing: Arc<Pacing>,
    /// Whether it is the breaker's probe.
    pub probe: bool,
    pub queue: Arc<Queue>,
    pub forwarder: Arc<Forwarder>,
    pub events: Option<EventLog>,
    pub traces: Option<Traces>,
}

/// A destination's attempt counters, resolved once per worker.
#[derive(Clone)]
pub(super) struct Counted {
    delivered: Counter,
    failed: Counter,
}

impl Counted {
    pub fn of(metrics: &Metrics, route: &Route, destination: &Destination) -> Self {
        let counter = |result| {
            let labels = DestinationAttemptLabels {
                route: route.name.clone(),
                destination: destination.name.clone(),
                result,
            };
            metrics.destination_attempts.get_or_create_owned(&labels)
        };
        Self {
            delivered: counter("delivered"),
            failed: counter("failed"),
        }
    }
}

/// An attempt's outcome the store refused to record, with its event: the
/// worker records it again once the store answers.
pub(super) struct Unrecorded {
    pub event: StoredEvent,
    pub outcome: Finish,
    pub error: QueueError,
}

impl Attempt {
    /// Sends `event` and records the outcome; hands both back when the store
    /// refuses the outcome.
    pub async fn run(self, event: StoredEvent) -> Result<(), Unrecorded> {
        let span = info_span!(
            "delivery",
            route = %self.route.name,
            destination = %self.destination.name,
            event_id = %event.id,
            request_id = event.outbound.request_id().to_str().unwrap_or_default(),
            attempt = event.attempts + 1,
            probe = self.probe,
        );
        async move {
            let forwarded = self.send(&event).await;
            let outcome = self.judge(&event, &forwarded);
            self.report(&outcome, &forwarded);
            let recorded = (self.queue).finish(&self.destination.lane, &event, outcome.clone());
            recorded.await.map_err(|error| Unrecorded {
                event,
                outcome,
                error,
            })
        }
        .instrument(span)
        .await
    }

    /// The downstream call, traced, counted and logged in the event log.
    async fn send(&self, event: &StoredEvent) -> Result<Delivered, ForwardError> {
        let at = SystemTime::now();
        // A child of the request span stored as the event's `traceparent`.
        let headers = event.outbound.headers();
        let (route, destination) = (&self.route, &self.destination);
        let span =
            (self.traces.as_ref()).map(|t| t.delivery(route, destination, &event.id, headers));
        let forwarded = (self.forwarder)
            .send(destination, &event.id, &event.outbound, span.as_ref())
            .await;
        forward::finish_span(span, Some(event.attempts + 1), &forwarded);
        forward::record(&self.metrics, &self.route, &forwarded);
        if let Some(events) = &self.events {
            let attempt = AttemptRecord::of(at, &destination.name, &forwarded);
            events.attempt(&event.id, &self.route.name, attempt);
        }
        forwarded
    }

    /// Feeds the result to the destination's pace, then decides the
    /// event's outcome: an attempt made while the breaker is open is not
    /// counted.
    fn judge(&self, event: &StoredEvent, forwarded: &Result<Delivered, ForwardError>) -> Finish {
        let retry_after = retry_after(forwarded);
        let ended = Ended {
            health: health(forwarded),
            probe: self.probe,
            retry_after,
        };
        let settings = &self.destination.queue;
        let counted = self.pacing.record(ended, settings, Instant::now());
        outcome(
            &self.destination,
            event.attempts,
            counted,
            retry_after,
            forwarded,
        )
    }

    fn report(&self, outcome: &Finish, forwarded: &Result<Delivered, ForwardError>) {
        let series = &self.metrics.series.queue;
        match outcome {
            Finish::Delivered { .. } => self.counted.delivered.inc(),
            Finish::Retry { .. } | Finish::Deferred { .. } | Finish::Dead { .. } => {
                self.counted.failed.inc()
            }
        };
        match outcome {
            Finish::Delivered { .. } => {
                series.delivered.inc();
                if let Ok(delivered) = forwarded {
                    let duration_ms = delivered.duration.as_millis() as u64;
                    info!(
                        status = delivered.status.as_u16(),
                        duration_ms, "event delivered"
                    );
                }
            }
            Finish::Retry { error, wait } => {
                series.failed.inc();
                let retry_in_ms = wait.as_millis() as u64;
                warn!(error = %error, retry_in_ms, "delivery failed; will retry");
            }
            Finish::Deferred { error, wait } => {
                series.failed.inc();
                let retry_in_ms = wait.as_millis() as u64;
                warn!(
                    error = %error, retry_in_ms,
                    "delivery failed with the destination's breaker open; not counted against the event"
                );
            }
            Finish::Dead { error } => {
                series.failed.inc();
                series.dead_lettered.inc();
                error!(error = %error, "delivery failed for the last time: dead letter");
            }
        }
    }
}

/// What a result says about the destination. A timeout, a refused
/// connection, a 5xx, 408 or 429 say it is down or overloaded; any other
/// answer (2xx, 3xx, or a 4xx such as 400, 404 or 422: its verdict on this
/// event) says it is up, so a bad event never opens the breaker.
fn health(forwarded: &Result<Delivered, ForwardError>) -> Health {
    match forwarded {
        Err(ForwardError::Timeout(_) | ForwardError::Unreachable(_)) => Health::Down,
        Err(ForwardError::Status { status, .. })
            if status.is_server_error()
                || matches!(
                    *status,
                    StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
                ) =>
        {
            Health::Down
        }
        _ => Health::Up,
    }
}

/// A 429's or 503's `Retry-After`, as a wait from now.
fn retry_after(forwarded: &Result<Delivered, ForwardError>) -> Option<Duration> {
    match forwarded {
        Err(ForwardError::Status {
            status,
            retry_after: Some(value),
            ..
        }) if backoff::is_throttle(*status) => value
            .to_str()
            .ok()
            .and_then(|v| backoff::parse_retry_after(v, SystemTime::now())),
        _ => None,
    }
}

/// What the result of an attempt at an event that had `attempts` before it
/// means for the event; not `counted`, it neither grows its attempts nor
/// makes it a dead letter, and it waits the backoff of its last counted
/// failure (so the breaker's next probe may take another event).
fn outcome(
    destination: &Destination,
    attempts: u32,
    counted: bool,
    hint: Option<Duration>,
    forwarded: &Result<Delivered, ForwardError>,
) -> Finish {
    let settings = &destination.queue;
    let Err(error) = forwarded else {
        return Finish::Delivered {
            keep: settings.retention.is_some(),
        };
    };
    let error = error.to_string();
    if !counted {
        let failures = attempts.max(1);
        let wait = backoff::next_wait(&settings.retry, failures, fastrand::f64(), hint);
        return Finish::Deferred { error, wait };
    }
    let attempt = attempts + 1;
    if attempt >= settings.retry.max_attempts {
        return Finish::Dead { error };
    }
    let wait = backoff::next_wait(&settings.retry, attempt, fastrand::f64(), hint);
    Finish::Retry { error, wait }
}
