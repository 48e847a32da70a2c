//! The admin API of the last hour: each route's 10-second buckets, the
//! numbers behind the console's sparklines.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::{AdminAuth, check};
use super::{AdminResult, Tag};
use crate::history::{self, Bucket, RouteHistory};
use crate::metrics::{Tally, latency_bounds};
use crate::server::context::Context;

/// This instance's last hour.
#[derive(Object)]
pub struct HistoryView {
    /// The width of a bucket, in seconds.
    step_secs: u64,
    /// Every route, in name order.
    routes: Vec<RouteHistoryView>,
}

/// One route's last hour.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RouteHistoryView {
    /// The route.
    route: String,
    /// Requests answered in the hour.
    requests: u64,
    /// Of those, answered 5xx.
    server_errors: u64,
    /// Of those, refused with a 4xx.
    client_errors: u64,
    /// Delivery attempts of queued events (and mirrors) the downstream
    /// took in the hour: a queued route answers `202` whatever its
    /// downstream does, so its errors are here.
    attempts_delivered: u64,
    /// Delivery attempts that failed in the hour.
    attempts_failed: u64,
    /// Median request time in the hour, milliseconds; absent without requests.
    p50_ms: Option<f64>,
    /// 99th percentile request time in the hour, milliseconds.
    p99_ms: Option<f64>,
    /// The buckets, oldest first; the last is in progress.
    buckets: Vec<HistoryBucket>,
}

/// What one route counted during one bucket.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HistoryBucket {
    /// When the bucket began (Unix milliseconds).
    start_ms: i64,
    /// Requests answered.
    requests: u64,
    /// Requests answered 5xx.
    server_errors: u64,
    /// Requests refused with a 4xx.
    client_errors: u64,
    /// Delivery attempts of queued events the downstream took.
    attempts_delivered: u64,
    /// Delivery attempts that failed.
    attempts_failed: u64,
    /// Median request time, milliseconds; absent without requests.
    p50_ms: Option<f64>,
    /// 99th percentile request time, milliseconds.
    p99_ms: Option<f64>,
}

/// The token-guarded history endpoint.
pub struct HistoryApi;

#[OpenApi]
impl HistoryApi {
    /// Each route's last hour on this instance, in 10-second buckets:
    /// requests, errors, delivery attempts, p50 and p99 request time.
    #[oai(path = "/admin/history", method = "get", tag = "Tag::Admin")]
    async fn history(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
    ) -> AdminResult<HistoryView> {
        check(&context, &auth, request)?;
        let bounds = latency_bounds();
        let routes = context.history.view(&context.live);
        Ok(Json(HistoryView {
            step_secs: history::STEP.as_secs(),
            routes: routes.iter().map(|r| route_view(r, &bounds)).collect(),
        }))
    }
}

fn route_view(route: &RouteHistory, bounds: &[f64]) -> RouteHistoryView {
    let mut hour = Tally {
        latency: vec![0; bounds.len()],
        ..Tally::default()
    };
    for bucket in &route.buckets {
        let counted = &bucket.counted;
        hour.requests += counted.requests;
        hour.server_errors += counted.server_errors;
        hour.client_errors += counted.client_errors;
        hour.attempts_delivered += counted.attempts_delivered;
        hour.attempts_failed += counted.attempts_failed;
        for (sum, n) in hour.latency.iter_mut().zip(&counted.latency) {
            *sum += n;
        }
    }
    RouteHistoryView {
        route: route.route.clone(),
        requests: hour.requests,
        server_errors: hour.server_errors,
        client_errors: hour.client_errors,
        attempts_delivered: hour.attempts_delivered,
        attempts_failed: hour.attempts_failed,
        p50_ms: millis(bounds, &hour.latency, 0.5),
        p99_ms: millis(bounds, &hour.latency, 0.99),
        buckets: route.buckets.iter().map(|b| bucket(b, bounds)).collect(),
    }
}

fn bucket(bucket: &Bucket, bounds: &[f64]) -> HistoryBucket {
    let counted = &bucket.counted;
    let start = bucket.start.duration_since(UNIX_EPOCH);
    HistoryBucket {
        start_ms: start.map_or(0, |since| since.as_millis() as i64),
        requests: counted.requests,
        server_errors: counted.server_errors,
        client_errors: counted.client_errors,
        attempts_delivered: counted.attempts_delivered,
        attempts_failed: counted.attempts_failed,
        p50_ms: millis(bounds, &counted.latency, 0.5),
        p99_ms: millis(bounds, &counted.latency, 0.99),
    }
}

/// The quantile in milliseconds, rounded to a microsecond.
fn millis(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let seconds = history::quantile(bounds, counts, q)?;
    Some((seconds * 1e6).round() / 1e3)
}
