//! The dedupe step of a request: claim the key before delivering, answer a
//! duplicate, and settle the claim once the outcome is known, or release it
//! if the request is dropped before.

use std::time::Duration;

use poem::http::HeaderMap;

use super::error::WebhookError;
use crate::dedupe::{self, Claim};
use crate::live::LiveRoute;
use crate::routes::Delivery;
use crate::signature::VerifiedBody;

/// Storing a queued event takes far less; a claim outlives its delivery.
const QUEUED_HOLD: Duration = Duration::from_secs(30);
const SYNC_HOLD_MARGIN: Duration = Duration::from_secs(5);

/// What the dedupe step decided.
pub enum Checked {
    /// Deliver, then settle the claim (if the route dedupes).
    Deliver(Option<Claimed>),
    /// Already handled: answer `200 duplicate` and do nothing else.
    Duplicate,
}

/// A claimed key. Settle it; dropped unsettled (a cancelled request), it is
/// released so that a re-delivery is not refused for the claim's lifetime.
pub struct Claimed {
    store: dedupe::Store,
    key: String,
    token: String,
    ttl: Duration,
    settled: bool,
}

impl Claimed {
    /// Records the key as handled when `delivered`, or frees it for a retry.
    pub async fn settle(mut self, delivered: bool) {
        self.settled = true;
        if delivered {
            self.store.complete(&self.key, self.ttl).await;
        } else {
            self.store.release(&self.key, &self.token).await;
        }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, key, token) = (self.store.clone(), self.key.clone(), self.token.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { store.release(&key, &token).await });
        }
    }
}

/// The delivery's dedupe key, when the route dedupes and the delivery has one.
pub fn key(
    LiveRoute { route, metrics }: &LiveRoute,
    headers: &HeaderMap,
    body: &VerifiedBody,
) -> Option<String> {
    let settings = route.dedupe.as_ref()?;
    let key = settings.key.extract(headers, body.bytes());
    if key.is_none() {
        metrics.count_dedupe("missing_key");
        tracing::debug!("no dedupe key in this delivery: forwarded without dedupe");
    }
    key
}

/// Claims the delivery's `key` (see [`key`]), if it has one.
pub async fn check(
    store: &dedupe::Store,
    LiveRoute { route, metrics }: &LiveRoute,
    key: Option<String>,
) -> Result<Checked, WebhookError> {
    let (Some(settings), Some(key)) = (&route.dedupe, key) else {
        return Ok(Checked::Deliver(None));
    };
    let key = format!("{}:{key}", route.name);
    let token = uuid::Uuid::new_v4().to_string();
    let hold = match route.delivery {
        Delivery::Sync => route.primary().timeout + SYNC_HOLD_MARGIN,
        Delivery::Queued => QUEUED_HOLD,
    };
    match store.claim(&key, &token, hold).await {
        Claim::New => {
            metrics.count_dedupe("new");
            let store = store.clone();
            let ttl = settings.ttl;
            Ok(Checked::Deliver(Some(Claimed {
                store,
                key,
                token,
                ttl,
                settled: false,
            })))
        }
        Claim::Duplicate => {
            metrics.count_dedupe("duplicate");
            tracing::info!("duplicate delivery: answered, not forwarded");
            Ok(Checked::Duplicate)
        }
        Claim::InFlight => {
            metrics.count_dedupe("in_flight");
            Err(WebhookError::DuplicateInFlight)
        }
        Claim::Unavailable => {
            metrics.count_dedupe("unavailable");
            // Debug: the Redis link logs the outage once; the metric counts each request.
            tracing::debug!("dedupe store unavailable: forwarding without dedupe");
            Ok(Checked::Deliver(None))
        }
    }
}
