//! One route's worker: attempts at its due events, at most `concurrency` at
//! once, and what each attempt's result means for its event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::forward::{self, Delivered, ForwardError, Forwarder};
use crate::live::{Live, LiveRoute};
use crate::metrics::RouteMetrics;
use crate::queue::{Finish, Queue, StoredEvent, Ticket, backoff};
use crate::routes::{Delivery, Route};

/// The longest a worker sleeps without looking at the store: picks up
/// replays and purges made by `hookgate queue` in another process.
const POLL: Duration = Duration::from_secs(1);

/// One route's deliveries.
pub(super) struct Worker {
    pub name: String,
    pub live: Arc<Live>,
    pub queue: Arc<Queue>,
    pub forwarder: Arc<Forwarder>,
}

impl Worker {
    /// Delivers until `shutdown`, until the route is gone from the config,
    /// or, on a route no longer queued, until nothing is left to deliver.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.live.subscribe();
        let mut attempts = JoinSet::new();
        let mut claimed: HashMap<Id, Ticket> = HashMap::new();
        let mut ready = VecDeque::new();
        loop {
            let Some(LiveRoute { route, metrics }) = self.live.load().by_name(&self.name).cloned()
            else {
                break;
            };
            // Disabled: paused; ingest keeps storing. Events read ahead are
            // let go, to be read again (and not if purged meanwhile).
            if !route.enabled {
                ready.clear();
            }
            let next = if route.enabled {
                let slots = Slots {
                    attempts: &mut attempts,
                    claimed: &mut claimed,
                    ready: &mut ready,
                };
                self.dispatch(&route, &metrics, slots).await
            } else {
                None
            };
            // A sync route's worker only delivers what the route stored
            // while it was queued; the supervisor starts another if more
            // turns up (a replay).
            let idle = attempts.is_empty() && ready.is_empty() && next.is_none();
            if idle && route.enabled && route.delivery == Delivery::Sync {
                break;
            }
            let wait = next.map_or(POLL, |at| {
                at.duration_since(SystemTime::now()).unwrap_or_default()
            });
            // A new event is news only to a worker with a free slot: a paused
            // or busy one is not woken (from another thread) on every ingest.
            let listening = route.enabled && attempts.len() < route.queue.concurrency;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = attempts.join_next_with_id() => {
                    claimed.remove(&done.map_or_else(|e| e.id(), |(id, ())| id));
                }
                _ = self.queue.kicked(&self.name), if listening => {}
                Ok(()) = changes.changed() => {}
                _ = tokio::time::sleep(wait.min(POLL)) => {}
            }
        }
        while attempts.join_next().await.is_some() {}
    }

    /// Starts attempts for due events up to the route's concurrency; returns
    /// when the next event is due, if a slot is left for it.
    ///
    /// On SQLite it reads ahead: when the events already read cannot fill
    /// the free slots, it reads up to a round (`concurrency`) more, so a busy
    /// route reads the store once per round of attempts rather than once per
    /// attempt. Events read ahead wait in memory for a slot (at most one
    /// attempt's `timeout`); a purge meanwhile does not stop their attempt,
    /// whose outcome is then not recorded, as for an attempt already running.
    async fn dispatch(
        &self,
        route: &Arc<Route>,
        metrics: &Arc<RouteMetrics>,
        slots: Slots<'_>,
    ) -> Option<SystemTime> {
        let Slots {
            attempts,
            claimed,
            ready,
        } = slots;
        let concurrency = route.queue.concurrency;
        let free = concurrency.saturating_sub(attempts.len());
        if free == 0 {
            return None;
        }
        let mut next = None;
        if ready.len() < free {
            let busy: HashSet<Ticket> = (claimed.values())
                .chain(ready.iter().map(|event| &event.ticket))
                .cloned()
                .collect();
            let ahead = if self.queue.reads_ahead() {
                concurrency
            } else {
                0
            };
            let wanted = free + ahead - ready.len();
            match self.queue.due(&self.name, wanted, &busy).await {
                Ok(due) => {
                    ready.extend(due.events);
                    next = due.next;
                }
                Err(e) => warn!(route = %self.name, error = %e, "cannot read due events"),
            }
        }
        for event in ready.drain(..free.min(ready.len())) {
            let ticket = event.ticket.clone();
            let attempt = Attempt {
                route: route.clone(),
                metrics: metrics.clone(),
                queue: self.queue.clone(),
                forwarder: self.forwarder.clone(),
            };
            claimed.insert(attempts.spawn(attempt.run(event)).id(), ticket);
        }
        next.filter(|_| attempts.len() < concurrency && ready.is_empty())
    }
}

/// A worker's attempts in flight (by task, with their events' tickets) and
/// the events read ahead, waiting for a slot.
struct Slots<'a> {
    attempts: &'a mut JoinSet<()>,
    claimed: &'a mut HashMap<Id, Ticket>,
    ready: &'a mut VecDeque<StoredEvent>,
}

/// One attempt at one event, on the route as it was configured when it started.
struct Attempt {
    route: Arc<Route>,
    metrics: Arc<RouteMetrics>,
    queue: Arc<Queue>,
    forwarder: Arc<Forwarder>,
}

impl Attempt {
    async fn run(self, event: StoredEvent) {
        let span = info_span!(
            "delivery",
            route = %self.route.name,
            event_id = %event.id,
            request_id = event.outbound.request_id().to_str().unwrap_or_default(),
            attempt = event.attempts + 1,
        );
        async move {
            let forwarded = self.forwarder.send(&self.route, &event.outbound).await;
            forward::record(&self.metrics, &self.route, &forwarded);
            let outcome = outcome(&self.route, event.attempts + 1, &forwarded);
            self.report(&outcome, &forwarded);
            if let Err(e) = self.queue.finish(&self.route.name, &event, outcome).await {
                error!(error = %e, "cannot record the attempt; the event will be attempted again");
            }
        }
        .instrument(span)
        .await
    }

    fn report(&self, outcome: &Finish, forwarded: &Result<Delivered, ForwardError>) {
        let series = &self.metrics.series.queue;
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
fn outcome(route: &Route, attempt: u32, forwarded: &Result<Delivered, ForwardError>) -> Finish {
    let Err(error) = forwarded else {
        return Finish::Delivered {
            keep: route.queue.retention.is_some(),
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
    if attempt >= route.queue.retry.max_attempts {
        return Finish::Dead { error };
    }
    let wait = backoff::next_wait(&route.queue.retry, attempt, fastrand::f64(), hint);
    Finish::Retry { error, wait }
}
