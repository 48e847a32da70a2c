//! One route's worker: attempts at its due events, at most `concurrency` at
//! once, and what each attempt's result means for its event. An outcome the
//! store refuses is kept in memory and recorded again with backoff; no new
//! attempt starts meanwhile (see [`super::faults`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use super::faults::{Faults, Operation};
use crate::events::{AttemptRecord, EventLog};
use crate::forward::{self, Delivered, ForwardError, Forwarder};
use crate::live::{Live, LiveLane, LiveRoute};
use crate::metrics::{DestinationAttemptLabels, Metrics, RouteMetrics};
use crate::queue::{Finish, Queue, QueueError, StoredEvent, Ticket, backoff};
use crate::routes::{Destination, Route};
use crate::telemetry::Traces;

/// The longest a worker sleeps without looking at the store: picks up
/// replays and purges made by `hookgate queue` in another process.
const POLL: Duration = Duration::from_secs(1);

/// One destination's deliveries, from its queue (lane).
pub(super) struct Worker {
    /// The lane: the route's name for its `default` destination,
    /// `ROUTE:DEST` otherwise.
    pub name: String,
    pub live: Arc<Live>,
    pub queue: Arc<Queue>,
    pub forwarder: Arc<Forwarder>,
    /// Where each attempt is recorded, if there is an event log.
    pub events: Option<EventLog>,
    /// A span per attempt, with `[telemetry] otlp_endpoint`.
    pub traces: Option<Traces>,
}

impl Worker {
    /// Delivers until `shutdown`, until the route is gone from the config,
    /// or, on a route no longer queued, until nothing is left to deliver.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.live.subscribe();
        let mut state = State::new(Faults::new(self.live.metrics()));
        loop {
            let Some(LiveLane { live, destination }) =
                self.live.load().by_lane(&self.name).cloned()
            else {
                break;
            };
            let LiveRoute { route, metrics } = live;
            // Disabled: paused; ingest keeps storing. Events read ahead are
            // let go, to be read again (and not if purged meanwhile).
            if !route.enabled {
                state.ready.clear();
            }
            if !state.held.is_empty() && state.faults.backoff().is_none() {
                self.record_held(&mut state).await;
            }
            // While the store refuses, no attempt starts: it would deliver an
            // event whose outcome the store could not record either.
            let open = route.enabled && state.held.is_empty() && state.faults.backoff().is_none();
            let next = match open {
                true => (self.dispatch(&route, &destination, &metrics, &mut state)).await,
                false => None,
            };
            // A sync route's worker only delivers what the route stored
            // while it was queued; the supervisor starts another if more
            // turns up (a replay).
            let idle = state.idle() && next.is_none();
            if idle && route.enabled && !route.queues(&destination) {
                break;
            }
            let wait = state.faults.backoff().unwrap_or_else(|| {
                next.map_or(POLL, |at| {
                    at.duration_since(SystemTime::now()).unwrap_or_default()
                })
            });
            // A new event is news only to a worker with a free slot: a paused
            // or busy one is not woken (from another thread) on every ingest.
            let listening = open && state.attempts.len() < destination.queue.concurrency;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = state.attempts.join_next_with_id() => state.ended(&self.name, done),
                _ = self.queue.kicked(&self.name), if listening => {}
                Ok(()) = changes.changed() => {}
                _ = tokio::time::sleep(wait.min(POLL)) => {}
            }
        }
        while state.attempts.join_next().await.is_some() {}
    }

    /// Records the outcomes the store refused, oldest first, until it
    /// refuses one again. An outcome kept in memory keeps its event out of
    /// the due set: the downstream is not sent it again meanwhile (after a
    /// restart it is, as after any attempt cut short).
    async fn record_held(&self, state: &mut State) {
        while let Some(first) = state.held.front() {
            let outcome = first.outcome.clone();
            match self.queue.finish(&self.name, &first.event, outcome).await {
                Ok(()) => {
                    state.faults.answered(&self.name);
                    state.held.pop_front();
                }
                Err(error) => {
                    state.faults.failed(&self.name, Operation::Record, &error);
                    return;
                }
            }
        }
    }

    /// Starts attempts for due events up to the route's concurrency; returns
    /// when the next event is due, if a slot is left for it.
    ///
    /// On SQLite it reads ahead: when the events already read cannot fill
    /// the free slots, it reads up to a round (`concurrency`) more, so a busy
    /// route reads the store once per round of attempts rather than once per
    /// attempt. Events read ahead wait in memory for a slot (at most one
    /// attempt's `timeout`, unless the store refuses meanwhile); a purge
    /// meanwhile does not stop their attempt, whose outcome is then not
    /// recorded, as for an attempt already running.
    async fn dispatch(
        &self,
        route: &Arc<Route>,
        destination: &Arc<Destination>,
        metrics: &Arc<RouteMetrics>,
        state: &mut State,
    ) -> Option<SystemTime> {
        let concurrency = destination.queue.concurrency;
        let free = concurrency.saturating_sub(state.attempts.len());
        if free == 0 {
            return None;
        }
        let mut next = None;
        if state.ready.len() < free {
            let busy: HashSet<Ticket> = (state.claimed.values())
                .chain(state.ready.iter().map(|event| &event.ticket))
                .cloned()
                .collect();
            let ahead = if self.queue.reads_ahead() {
                concurrency
            } else {
                0
            };
            let wanted = free + ahead - state.ready.len();
            match self.queue.due(&self.name, wanted, &busy).await {
                Ok(due) => {
                    state.ready.extend(due.events);
                    next = due.next;
                }
                Err(error) => state.faults.failed(&self.name, Operation::Read, &error),
            }
        }
        let counted = Counted::of(self.live.metrics(), route, destination);
        let State {
            attempts,
            claimed,
            ready,
            ..
        } = state;
        for event in ready.drain(..free.min(ready.len())) {
            let ticket = event.ticket.clone();
            let attempt = Attempt {
                route: route.clone(),
                destination: destination.clone(),
                counted: counted.clone(),
                metrics: metrics.clone(),
                queue: self.queue.clone(),
                forwarder: self.forwarder.clone(),
                events: self.events.clone(),
                traces: self.traces.clone(),
            };
            claimed.insert(attempts.spawn(attempt.run(event)).id(), ticket);
        }
        next.filter(|_| attempts.len() < concurrency && ready.is_empty())
    }
}

/// What a worker keeps between rounds: its attempts in flight (by task,
/// with their events' tickets), the events read ahead waiting for a slot,
/// the outcomes the store refused, and how the store has been answering.
struct State {
    attempts: JoinSet<Result<(), Unrecorded>>,
    claimed: HashMap<Id, Ticket>,
    ready: VecDeque<StoredEvent>,
    held: VecDeque<Unrecorded>,
    faults: Faults,
}

impl State {
    fn new(faults: Faults) -> Self {
        Self {
            attempts: JoinSet::new(),
            claimed: HashMap::new(),
            ready: VecDeque::new(),
            held: VecDeque::new(),
            faults,
        }
    }

    /// An attempt of `route` ended: its event is no longer claimed, and an
    /// outcome the store refused is held.
    fn ended(&mut self, route: &str, done: Result<(Id, Result<(), Unrecorded>), JoinError>) {
        let (id, recorded) = match done {
            Ok((id, recorded)) => (id, Some(recorded)),
            Err(e) => (e.id(), None),
        };
        self.claimed.remove(&id);
        match recorded {
            Some(Ok(())) => self.faults.answered(route),
            Some(Err(unrecorded)) => {
                self.faults
                    .failed(route, Operation::Record, &unrecorded.error);
                self.held.push_back(unrecorded);
            }
            None => {}
        }
    }

    /// Nothing in flight, read ahead or waiting to be recorded.
    fn idle(&self) -> bool {
        self.attempts.is_empty() && self.ready.is_empty() && self.held.is_empty()
    }
}

/// One attempt at one event, on the route and destination as they were
/// configured when it started.
struct Attempt {
    route: Arc<Route>,
    destination: Arc<Destination>,
    counted: Counted,
    metrics: Arc<RouteMetrics>,
    queue: Arc<Queue>,
    forwarder: Arc<Forwarder>,
    events: Option<EventLog>,
    traces: Option<Traces>,
}

/// A destination's attempt counters, resolved once per round of attempts.
#[derive(Clone)]
struct Counted {
    delivered: Counter,
    failed: Counter,
}

impl Counted {
    fn of(metrics: &Metrics, route: &Route, destination: &Destination) -> Self {
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
struct Unrecorded {
    event: StoredEvent,
    outcome: Finish,
    error: QueueError,
}

impl Attempt {
    /// Sends `event` and records the outcome; hands both back when the store
    /// refuses the outcome.
    async fn run(self, event: StoredEvent) -> Result<(), Unrecorded> {
        let span = info_span!(
            "delivery",
            route = %self.route.name,
            destination = %self.destination.name,
            event_id = %event.id,
            request_id = event.outbound.request_id().to_str().unwrap_or_default(),
            attempt = event.attempts + 1,
        );
        async move {
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
            let outcome = outcome(destination, event.attempts + 1, &forwarded);
            self.report(&outcome, &forwarded);
            let recorded = self
                .queue
                .finish(&destination.lane, &event, outcome.clone());
            recorded.await.map_err(|error| Unrecorded {
                event,
                outcome,
                error,
            })
        }
        .instrument(span)
        .await
    }

    fn report(&self, outcome: &Finish, forwarded: &Result<Delivered, ForwardError>) {
        let series = &self.metrics.series.queue;
        match outcome {
            Finish::Delivered { .. } => self.counted.delivered.inc(),
            Finish::Retry { .. } | Finish::Dead { .. } => self.counted.failed.inc(),
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
            Finish::Dead { error } => {
                series.failed.inc();
                series.dead_lettered.inc();
                error!(error = %error, "delivery failed for the last time: dead letter");
            }
        }
    }
}

/// What the result of attempt number `attempt` means for the event.
fn outcome(
    destination: &Destination,
    attempt: u32,
    forwarded: &Result<Delivered, ForwardError>,
) -> Finish {
    let settings = &destination.queue;
    let Err(error) = forwarded else {
        return Finish::Delivered {
            keep: settings.retention.is_some(),
        };
    };
    let hint = match error {
        ForwardError::Status {
            status,
            retry_after: Some(value),
            ..
        } if backoff::is_throttle(*status) => value
            .to_str()
            .ok()
            .and_then(|v| backoff::parse_retry_after(v, std::time::SystemTime::now())),
        _ => None,
    };
    let error = error.to_string();
    if attempt >= settings.retry.max_attempts {
        return Finish::Dead { error };
    }
    let wait = backoff::next_wait(&settings.retry, attempt, fastrand::f64(), hint);
    Finish::Retry { error, wait }
}
