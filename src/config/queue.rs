//! A route's delivery keys (`concurrency`, `max_queued`, `retention`,
//! `[retry]`; `rate_limit` and `[breaker]` in `pacing`) and its `[dedupe]`,
//! validated.

use std::time::Duration;

use super::pacing::{breaker, rate_limit};
use super::schema::{RawRetry, RawRoute};
use super::validate::{FieldProblems, duration, not_below};
use crate::routes::{DedupeSettings, KeySpec, QueueSettings, RetryPolicy};

const DEFAULT_DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_DEDUPE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The route's `[dedupe]`, `None` when absent or invalid (problems recorded).
pub(super) fn dedupe_settings(
    raw: &RawRoute,
    problems: &mut FieldProblems,
) -> Option<DedupeSettings> {
    let raw = raw.dedupe.as_ref()?;
    let key = KeySpec::parse(&raw.key.to_vec())
        .map_err(|m| problems.push(("dedupe.key", m)))
        .ok();
    let ttl = duration(&raw.ttl, DEFAULT_DEDUPE_TTL, MAX_DEDUPE_TTL)
        .map_err(|m| problems.push(("dedupe.ttl", m)))
        .ok();
    Some(DedupeSettings {
        key: key?,
        ttl: ttl?,
    })
}

/// Small: a downstream is rarely built for many parallel webhooks.
const DEFAULT_CONCURRENCY: u64 = 4;
const MAX_CONCURRENCY: u64 = 256;
const DEFAULT_MAX_QUEUED: u64 = 100_000;
const MAX_MAX_QUEUED: u64 = 100_000_000;
const MAX_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// With the two backoffs below and jitter between half and all of each wait,
/// 16 attempts spread over about a day (16 to 31 hours): seconds, then
/// minutes, then hours, like Svix's schedule.
const DEFAULT_MAX_ATTEMPTS: u64 = 16;
const MAX_MAX_ATTEMPTS: u64 = 100;
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10 * 3600);
const MAX_BACKOFF_CEILING: Duration = Duration::from_secs(24 * 3600);

/// The route's queue settings, or `None` with the problems recorded.
pub(super) fn queue_settings(
    raw: &RawRoute,
    problems: &mut FieldProblems,
) -> Option<QueueSettings> {
    let concurrency = concurrency(raw.concurrency, problems);
    let max_queued = within(
        raw.max_queued,
        DEFAULT_MAX_QUEUED,
        MAX_MAX_QUEUED,
        ("max_queued", problems),
    );
    let retention = match &raw.retention {
        None => Some(None),
        some => duration(some, Duration::ZERO, MAX_RETENTION)
            .map(Some)
            .map_err(|m| problems.push(("retention", m)))
            .ok(),
    };
    let retry = retry_policy(raw.retry.as_ref().unwrap_or(&RawRetry::default()), problems);
    let rate_limit = rate_limit(&raw.rate_limit, problems);
    let breaker = breaker(&raw.breaker.clone().unwrap_or_default(), problems);
    Some(QueueSettings {
        concurrency: concurrency?,
        retry: retry?,
        max_queued: max_queued?,
        retention: retention?,
        rate_limit: rate_limit?,
        breaker: breaker?,
    })
}

/// `concurrency`, or its default.
pub(super) fn concurrency(value: Option<u64>, problems: &mut FieldProblems) -> Option<usize> {
    let n = within(
        value,
        DEFAULT_CONCURRENCY,
        MAX_CONCURRENCY,
        ("concurrency", problems),
    );
    n.map(|n| n as usize)
}

/// A `[retry]` table, each key or its default.
pub(super) fn retry_policy(raw: &RawRetry, problems: &mut FieldProblems) -> Option<RetryPolicy> {
    let max_attempts = within(
        raw.max_attempts,
        DEFAULT_MAX_ATTEMPTS,
        MAX_MAX_ATTEMPTS,
        ("retry.max_attempts", problems),
    );
    let backoff = |text, default, field, problems: &mut FieldProblems| {
        duration(text, default, MAX_BACKOFF_CEILING)
            .map_err(|m| problems.push((field, m)))
            .ok()
    };
    let initial = backoff(
        &raw.initial_backoff,
        DEFAULT_INITIAL_BACKOFF,
        "retry.initial_backoff",
        problems,
    );
    let max = backoff(
        &raw.max_backoff,
        DEFAULT_MAX_BACKOFF.max(initial.unwrap_or_default()),
        "retry.max_backoff",
        problems,
    );
    let (initial_backoff, max_backoff) = (initial?, max?);
    not_below(max_backoff, initial_backoff, "retry.initial_backoff")
        .map_err(|m| problems.push(("retry.max_backoff", m)))
        .ok()?;
    Some(RetryPolicy {
        max_attempts: max_attempts? as u32,
        initial_backoff,
        max_backoff,
    })
}

/// `value` (or `default`) when between 1 and `max`; a problem on `field` otherwise.
pub(super) fn within(
    value: Option<u64>,
    default: u64,
    max: u64,
    (field, problems): (&'static str, &mut FieldProblems),
) -> Option<u64> {
    match value.unwrap_or(default) {
        n @ 1.. if n <= max => Some(n),
        n => {
            problems.push((field, format!("{n} must be between 1 and {max}")));
            None
        }
    }
}
