//! The dedupe step of a request: claim the key before delivering, answer a
//! duplicate, and settle the claim once the outcome is known.

use std::time::Duration;

use poem::http::HeaderMap;

use super::error::WebhookError;
use super::state::State;
use crate::config::Delivery;
use crate::dedupe::Claim;
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// Storing a queued event takes far less; a claim outlives its delivery.
const QUEUED_HOLD: Duration = Duration::from_secs(30);
const SYNC_HOLD_MARGIN: Duration = Duration::from_secs(5);

/// What the dedupe step decided.
pub enum Checked {
    /// Deliver; settle this key (if any) afterwards.
    Deliver(Option<String>),
    /// Already handled: answer `200 duplicate` and do nothing else.
    Duplicate,
}

/// Claims the delivery's key when the route dedupes.
pub async fn check(
    state: &State,
    route: &Route,
    headers: &HeaderMap,
    body: &VerifiedBody,
) -> Result<Checked, WebhookError> {
    let Some(settings) = &route.dedupe else {
        return Ok(Checked::Deliver(None));
    };
    let Some(key) = settings.key.extract(headers, body.bytes()) else {
        state.metrics.count_dedupe(&route.name, "missing_key");
        tracing::debug!("no dedupe key in this delivery: forwarded without dedupe");
        return Ok(Checked::Deliver(None));
    };
    let key = format!("{}:{key}", route.name);
    let hold = match route.delivery {
        Delivery::Sync => route.timeout + SYNC_HOLD_MARGIN,
        Delivery::Queued => QUEUED_HOLD,
    };
    match state.dedupe.claim(&key, hold).await {
        Claim::New => {
            state.metrics.count_dedupe(&route.name, "new");
            Ok(Checked::Deliver(Some(key)))
        }
        Claim::Duplicate => {
            state.metrics.count_dedupe(&route.name, "duplicate");
            tracing::info!("duplicate delivery: answered, not forwarded");
            Ok(Checked::Duplicate)
        }
        Claim::InFlight => {
            state.metrics.count_dedupe(&route.name, "in_flight");
            Err(WebhookError::DuplicateInFlight)
        }
        Claim::Unavailable => {
            state.metrics.count_dedupe(&route.name, "unavailable");
            tracing::warn!("dedupe store unavailable: forwarding without dedupe");
            Ok(Checked::Deliver(None))
        }
    }
}

/// Records the key as handled when `delivered`, or frees it for a retry.
pub async fn settle(state: &State, route: &Route, key: Option<String>, delivered: bool) {
    let (Some(key), Some(settings)) = (key, &route.dedupe) else {
        return;
    };
    if delivered {
        state.dedupe.complete(&key, settings.ttl).await;
    } else {
        state.dedupe.release(&key).await;
    }
}
