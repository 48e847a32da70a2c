//! One downstream of a route: where its events go, which of them, and how
//! each request is sent (timeout, added headers, the gateway's signature)
//! and, when queued, delivered (concurrency, retries).

use std::time::Duration;

use poem::http::{HeaderName, HeaderValue, Uri};
use url::Url;

use super::{QueueSettings, filter::Filter};
use crate::signature::Signer;

/// The name of the destination a route's `downstream` key declares.
pub const DEFAULT_DESTINATION: &str = "default";

/// One destination of a route, ready to serve.
#[derive(Debug)]
pub struct Destination {
    /// Its name, the key of `[routes.NAME.destinations.DEST]`, or `default`.
    pub name: String,
    /// The queue it is delivered from: the route's name for `default` (so a
    /// route's events stored before destinations existed stay its own),
    /// `ROUTE:DEST` otherwise.
    pub lane: String,
    /// Where the raw body is sent.
    pub url: Url,
    /// The same, as the client takes it, parsed once at load.
    pub uri: Uri,
    /// The request's timeout.
    pub timeout: Duration,
    /// On a sync route: called while the source waits; its answer is the source's.
    pub primary: bool,
    /// The events it wants; `None`: all.
    pub filter: Option<Filter>,
    /// Headers added to each request, marked sensitive (never logged).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The gateway's own signature on each request, if set.
    pub sign: Option<Signer>,
    /// How stored events are delivered here.
    pub queue: QueueSettings,
}

impl Destination {
    /// The queue name of destination `name` of route `route`.
    pub fn lane_of(route: &str, name: &str) -> String {
        match name {
            DEFAULT_DESTINATION => route.to_string(),
            _ => format!("{route}:{name}"),
        }
    }
}
