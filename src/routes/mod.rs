//! The validated runtime routes: what a request is matched against.

mod dedupe_key;
mod destination;
mod field;
mod filter;
mod pacing;
mod targets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use poem::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::{Deserialize, Serialize};

pub use dedupe_key::KeySpec;
pub use destination::{DEFAULT_DESTINATION, Destination};
pub use filter::Filter;
pub use pacing::{BreakerSettings, RateLimit};
pub use targets::Targets;

use crate::signature::Verifier;

/// How a route's events reach the downstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Forward while the source waits; answer with the downstream's outcome.
    #[default]
    Sync,
    /// Store durably, answer 202, deliver and retry in the background.
    Queued,
}

impl Delivery {
    /// The name as written in `routes.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sync => "sync",
            Delivery::Queued => "queued",
        }
    }
}

/// A route's `[routes.NAME.dedupe]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeSettings {
    /// What identifies a delivery.
    pub key: KeySpec,
    /// How long a handled key is remembered.
    pub ttl: Duration,
}

/// One webhook route, ready to serve: every value parsed and checked.
#[derive(Debug)]
pub struct Route {
    /// The route's name, the key of `[routes.NAME]`.
    pub name: String,
    /// The public path, e.g. `/api/webhooks/chatwoot`.
    pub path: String,
    /// `false` answers 503 and leaves the downstream alone.
    pub enabled: bool,
    /// Where events go, in name order; at least one.
    pub destinations: Vec<Arc<Destination>>,
    /// The index in `destinations` of the one a sync route calls while the
    /// source waits (the only one, or the one marked `primary`).
    pub primary: usize,
    /// Whether some destination has a filter: without, every event goes
    /// to every destination and no filter is looked at.
    pub filtered: bool,
    /// The largest body accepted.
    pub max_body_bytes: usize,
    /// Requests processed at once before shedding.
    pub max_in_flight: u64,
    /// The client networks allowed to post; `None` allows any.
    pub allow_ips: Option<Vec<IpNet>>,
    /// What the event log keeps of the route's requests.
    pub log: LogSettings,
    /// Failure streak length that triggers the escalation log.
    pub alert_after: Duration,
    /// The signature check.
    pub verifier: Verifier,
    /// The route name as an `X-Hookgate-Route` value, prepared once.
    pub route_header: HeaderValue,
    /// Forward while the source waits, or store and deliver in the background.
    pub delivery: Delivery,
    /// How stored events are delivered (used whenever the route has any).
    pub queue: QueueSettings,
    /// `[routes.NAME.dedupe]`, if set.
    pub dedupe: Option<DedupeSettings>,
}

impl Route {
    /// The destination a sync route calls while the source waits.
    pub fn primary(&self) -> &Arc<Destination> {
        &self.destinations[self.primary]
    }

    /// The destinations whose filters the event (its `headers` and verified
    /// `body`) meets, in name order; the body is parsed at most once.
    pub fn wanting(&self, headers: &HeaderMap, body: &[u8]) -> Vec<&Arc<Destination>> {
        (self.destinations.iter())
            .filter(|d| (d.filter.as_ref()).is_none_or(|f| f.holds(headers, body)))
            .collect()
    }

    /// The destination called `name`.
    pub fn destination_named(&self, name: &str) -> Option<&Arc<Destination>> {
        self.destinations.iter().find(|d| d.name == name)
    }

    /// Whether stored events of `destination` are delivered in the
    /// background: all of a queued route's, a sync route's mirrors.
    pub fn queues(&self, destination: &Destination) -> bool {
        self.delivery == Delivery::Queued || !destination.primary
    }
}

/// `[routes.NAME.log]`: what the event log keeps of a route's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Whether the route's requests are recorded at all.
    pub enabled: bool,
    /// Whether headers (redacted) and verified bodies are kept (never when
    /// the log is off).
    pub bodies: bool,
    /// How long records are kept.
    pub retention: Duration,
    /// The most records kept.
    pub max_events: u64,
    /// Every header stored redacted: the route's own list, then (once
    /// [`Self::redacting`] has run) the scheme's, credentials and cookies.
    pub redacted: Vec<HeaderName>,
}

/// Headers whose values are credentials, whatever the route.
const CREDENTIALS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::SET_COOKIE,
    header::PROXY_AUTHORIZATION,
];

impl LogSettings {
    /// These settings, redacting also `verifier`'s headers (its delivery id
    /// aside: it is what an operator searches by) and credentials. Decided
    /// once per route, not per record on the log's writer.
    pub fn redacting(mut self, verifier: &Verifier) -> Self {
        let delivery = verifier.delivery_header();
        let is_delivery = |h: &str| delivery.is_some_and(|d| d.eq_ignore_ascii_case(h));
        let scheme = (verifier.signature_headers().into_iter())
            .filter(|h| !is_delivery(h))
            .filter_map(|h| HeaderName::try_from(h).ok());
        self.redacted.extend(scheme.chain(CREDENTIALS));
        self
    }
}

/// How a route's stored events are delivered and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// When to try again, and when to give up.
    pub retry: RetryPolicy,
    /// Undelivered events (pending and dead letters) kept at most.
    pub max_queued: u64,
    /// How long delivered events are kept; `None` deletes them on delivery.
    pub retention: Option<Duration>,
    /// Deliveries started at most; `None`: as fast as `concurrency` allows.
    pub rate_limit: Option<RateLimit>,
    /// When the destination is taken for down, and probed.
    pub breaker: BreakerSettings,
}

/// The retry schedule: exponential backoff with jitter, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

/// Every route, by name. Requests match paths on the live snapshot
/// (`live::Snapshot::by_path`), which carries each route's metrics too.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_name: BTreeMap<String, Arc<Route>>,
}

impl RouteTable {
    /// A table of `routes`; paths are assumed unique (validation checks it).
    pub fn new(routes: impl IntoIterator<Item = Route>) -> Self {
        let mut table = Self::default();
        for route in routes {
            table.by_name.insert(route.name.clone(), Arc::new(route));
        }
        table
    }

    /// The route called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Route>> {
        self.by_name.get(name)
    }

    /// Every route, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.by_name.values()
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when no route is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Paths the gateway answers itself; no route may take them.
pub const GATEWAY_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/openapi.yaml",
    "/docs",
    "/admin",
    "/console",
];

/// Whether `path` is, or lies under, one of the [`GATEWAY_PATHS`].
pub fn is_gateway_path(path: &str) -> bool {
    GATEWAY_PATHS.iter().any(|own| {
        path == *own || (path.starts_with(own) && path.as_bytes().get(own.len()) == Some(&b'/'))
    })
}
