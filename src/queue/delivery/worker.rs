//! One destination's worker: attempts at its due events, at most
//! `concurrency` at once, as its pace allows (see `crate::pacing`: no
//! attempt while a `Retry-After` pause lasts or the breaker is open, one
//! probe when it is due, starts spaced by the rate limit). An outcome the
//! store refuses is kept in memory and recorded again with backoff; no new
//! attempt starts meanwhile (see [`super::faults`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use super::attempt::{Attempt, Counted, Unrecorded};
use super::faults::{Faults, Operation};
use crate::events::EventLog;
use crate::forward::Forwarder;
use crate::live::{Live, LiveLane, LiveRoute};
use crate::pacing::Admission;
use crate::queue::{Queue, StoredEvent, Ticket};
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
            let Some(lane) = self.live.load().by_lane(&self.name).cloned() else {
                break;
            };
            let route = &lane.live.route;
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
                true => self.dispatch(&lane, &mut state).await,
                false => None,
            };
            // A sync route's worker only delivers what the route stored
            // while it was queued; the supervisor starts another if more
            // turns up (a replay).
            let idle = state.idle() && next.is_none();
            if idle && route.enabled && !route.queues(&lane.destination) {
                break;
            }
            let wait = state.faults.backoff().unwrap_or_else(|| {
                next.map_or(POLL, |at| at.saturating_duration_since(Instant::now()))
            });
            // A new event is news only to a worker with a free slot: a paused
            // or busy one is not woken (from another thread) on every ingest.
            let listening = open && state.attempts.len() < lane.destination.queue.concurrency;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = state.attempts.join_next_with_id() => state.ended(&lane, done),
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

    /// Starts attempts for due events up to the destination's concurrency,
    /// as its pace allows; returns when to look again: when the next event
    /// is due (if a slot is left for it), the rate limit allows the next
    /// start, or a pause or the breaker's cool-down ends.
    ///
    /// On SQLite it reads ahead: when the events already read cannot fill
    /// the free slots, it reads up to a round (`concurrency`) more, so a busy
    /// route reads the store once per round of attempts rather than once per
    /// attempt. Events read ahead wait in memory for a slot or the rate limit
    /// (let go when a pause or the breaker holds the destination back); a
    /// purge meanwhile does not stop their attempt, whose outcome is then
    /// not recorded, as for an attempt already running.
    async fn dispatch(&self, lane: &LiveLane, state: &mut State) -> Option<Instant> {
        let queue = &lane.destination.queue;
        let free = queue.concurrency.saturating_sub(state.attempts.len());
        if free == 0 {
            return None;
        }
        let now = Instant::now();
        let (mut allowed, probe) = match lane.pacing.admit(now) {
            Admission::Any => (free, false),
            Admission::Probe => (1, true),
            Admission::Wait(until) => {
                state.ready.clear();
                return until;
            }
        };
        // A store that claims what it reads (Redis) is read only for the
        // attempts the rate limit lets start now; one that reads ahead,
        // first, so that no delivery the limit allows is spent on nothing.
        let reads_ahead = self.queue.reads_ahead();
        if !reads_ahead {
            let cells = lane.pacing.take(queue.rate_limit, allowed);
            if cells.count == 0 {
                return cells.wait.map(|wait| now + wait);
            }
            allowed = cells.count;
        }
        let next = match state.ready.len() < allowed {
            true => {
                let ahead = reads_ahead.then_some(queue.concurrency);
                self.read(allowed, ahead, state).await
            }
            false => None,
        };
        let mut starting = allowed.min(state.ready.len());
        // Set only when events in hand wait for the rate limit: an idle
        // destination is not woken at its rate.
        let mut limited = None;
        if reads_ahead {
            let cells = lane.pacing.take(queue.rate_limit, starting);
            (starting, limited) = (cells.count, cells.wait);
        }
        self.start(lane, starting, probe, state);
        let slot_left = state.attempts.len() < queue.concurrency && state.ready.is_empty();
        let due = next.filter(|_| slot_left).map(|at| {
            let ahead = at.duration_since(SystemTime::now()).unwrap_or_default();
            now + ahead
        });
        due.into_iter().chain(limited.map(|wait| now + wait)).min()
    }

    /// Reads up to `wanted` due events, and `ahead` more on a store that
    /// reads ahead, into `state.ready`; returns when the next is due.
    async fn read(
        &self,
        wanted: usize,
        ahead: Option<usize>,
        state: &mut State,
    ) -> Option<SystemTime> {
        let busy: HashSet<Ticket> = (state.claimed.values())
            .chain(state.ready.iter().map(|event| &event.ticket))
            .cloned()
            .collect();
        let wanted = wanted + ahead.unwrap_or(0) - state.ready.len();
        match self.queue.due(&self.name, wanted, &busy).await {
            Ok(due) => {
                state.ready.extend(due.events);
                due.next
            }
            Err(error) => {
                state.faults.failed(&self.name, Operation::Read, &error);
                None
            }
        }
    }

    /// Starts attempts at the first `count` events read; the first is the
    /// breaker's probe when `probe`.
    fn start(&self, lane: &LiveLane, count: usize, probe: bool, state: &mut State) {
        if count == 0 {
            return;
        }
        let LiveLane {
            live: LiveRoute { route, metrics },
            destination,
            pacing,
        } = lane;
        // A lane always names the same route and destination: resolved once.
        let counted = (state.counted)
            .get_or_insert_with(|| Counted::of(self.live.metrics(), route, destination))
            .clone();
        for event in state.ready.drain(..count) {
            let ticket = event.ticket.clone();
            let attempt = Attempt {
                route: route.clone(),
                destination: destination.clone(),
                counted: counted.clone(),
                metrics: metrics.clone(),
                pacing: pacing.clone(),
                probe,
                queue: self.queue.clone(),
                forwarder: self.forwarder.clone(),
                events: self.events.clone(),
                traces: self.traces.clone(),
            };
            let id = state.attempts.spawn(attempt.run(event)).id();
            state.claimed.insert(id, ticket);
            if probe {
                pacing.probe_started(Instant::now());
                state.probe = Some(id);
            }
        }
    }
}

/// What a worker keeps between rounds: its attempts in flight (by task,
/// with their events' tickets, and which is the breaker's probe), the
/// events read ahead waiting for a slot, the outcomes the store refused,
/// and how the store has been answering.
struct State {
    attempts: JoinSet<Result<(), Unrecorded>>,
    claimed: HashMap<Id, Ticket>,
    probe: Option<Id>,
    ready: VecDeque<StoredEvent>,
    held: VecDeque<Unrecorded>,
    faults: Faults,
    counted: Option<Counted>,
}

impl State {
    fn new(faults: Faults) -> Self {
        Self {
            attempts: JoinSet::new(),
            claimed: HashMap::new(),
            probe: None,
            ready: VecDeque::new(),
            held: VecDeque::new(),
            faults,
            counted: None,
        }
    }

    /// An attempt of `lane` ended: its event is no longer claimed, and an
    /// outcome the store refused is held. A probe whose task was lost
    /// (it panicked) is replaced.
    fn ended(&mut self, lane: &LiveLane, done: Result<(Id, Result<(), Unrecorded>), JoinError>) {
        let route = lane.destination.lane.as_str();
        let (id, recorded) = match done {
            Ok((id, recorded)) => (id, Some(recorded)),
            Err(e) => (e.id(), None),
        };
        self.claimed.remove(&id);
        if self.probe == Some(id) {
            self.probe = None;
            if recorded.is_none() {
                lane.pacing.probe_lost(Instant::now());
            }
        }
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
