//! Which destinations of a route get an event, and how: on a sync route
//! the primary is called while the source waits and the others are stored
//! for background delivery; on a queued route every one is stored.

use std::sync::Arc;

use poem::http::HeaderMap;

use super::{Delivery, Destination, Route};

/// The destinations an event goes to.
#[derive(Debug)]
pub struct Targets<'r> {
    /// Called while the source waits (a sync route's primary, if it wants
    /// the event).
    pub primary: Option<&'r Arc<Destination>>,
    /// The queues the event is stored in.
    pub stored: Vec<&'r str>,
}

impl Targets<'_> {
    /// No destination wants the event.
    pub fn is_empty(&self) -> bool {
        self.primary.is_none() && self.stored.is_empty()
    }
}

impl Route {
    /// The destinations whose filters the event (its `headers` and verified
    /// `body`) meets. A route of one destination without a filter looks at
    /// nothing (and a sync one allocates nothing).
    pub fn targets(&self, headers: &HeaderMap, body: &[u8]) -> Targets<'_> {
        if !self.filtered && self.destinations.len() == 1 {
            let only = self.primary();
            return match self.delivery {
                Delivery::Sync => Targets {
                    primary: Some(only),
                    stored: Vec::new(),
                },
                Delivery::Queued => Targets {
                    primary: None,
                    stored: vec![only.lane.as_str()],
                },
            };
        }
        let mut targets = Targets {
            primary: None,
            stored: Vec::new(),
        };
        for destination in self.wanting(headers, body) {
            match self.queues(destination) {
                true => targets.stored.push(&destination.lane),
                false => targets.primary = Some(destination),
            }
        }
        targets
    }
}
