//! The delivery keys of a route (`delivery`, `concurrency`, `max_queued`,
//! `retention`, `[retry]`) and the `[store]` table, validated.

use std::path::PathBuf;
use std::time::Duration;

use super::Problem;
use super::schema::{Backend, RawRetry, RawRoute, RawStore};
use super::validate::{FieldProblems, duration};
use crate::routes::{QueueSettings, RetryPolicy};

/// The validated `[store]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The SQLite file; relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Where dedupe keys and queued events live.
    pub backend: StoreBackend,
    /// On Redis: how long an event being delivered by an instance may go
    /// unacknowledged before another instance reclaims it.
    pub visibility_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_STORE_PATH),
            backend: StoreBackend::Embedded,
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
        }
    }
}

/// Where dedupe keys and queued events live.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// In this process, and the SQLite file at `path`.
    Embedded,
    /// On Redis (dedupe keys, and queued events on Redis Streams), shared by
    /// every instance.
    Redis {
        /// `redis://` URL (may hold a password: never printed).
        url: String,
        /// Key prefix.
        prefix: String,
    },
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreBackend::Embedded => f.write_str("Embedded"),
            StoreBackend::Redis { prefix, .. } => write!(f, "Redis {{ prefix: {prefix:?} }}"),
        }
    }
}

const DEFAULT_DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_DEDUPE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The route's `[dedupe]`, `None` when absent or invalid (problems recorded).
pub(super) fn dedupe_settings(
    raw: &RawRoute,
    problems: &mut FieldProblems,
) -> Option<crate::dedupe::DedupeSettings> {
    let raw = raw.dedupe.as_ref()?;
    let key = crate::dedupe::KeySpec::parse(&raw.key.to_vec())
        .map_err(|m| problems.push(("dedupe.key", m)))
        .ok();
    let ttl = duration(&raw.ttl, DEFAULT_DEDUPE_TTL, MAX_DEDUPE_TTL)
        .map_err(|m| problems.push(("dedupe.ttl", m)))
        .ok();
    Some(crate::dedupe::DedupeSettings {
        key: key?,
        ttl: ttl?,
    })
}

fn store_backend(raw: &RawStore, problems: &mut Vec<Problem>) -> StoreBackend {
    if raw.backend.unwrap_or_default() == Backend::Embedded {
        return StoreBackend::Embedded;
    }
    let url = raw.url.clone().unwrap_or_default();
    if redis::Client::open(url.as_str()).is_err() {
        problems.push(Problem {
            route: None,
            field: "store.url".into(),
            message: "a redis:// URL is required with backend = \"redis\"".into(),
        });
    }
    let prefix = raw.prefix.clone().unwrap_or_else(|| "hookgate:".into());
    StoreBackend::Redis { url, prefix }
}

const DEFAULT_STORE_PATH: &str = "data/hookgate.db";
/// Well above the default route timeout (10 s): a slow attempt in progress
/// is not taken for an abandoned one.
const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(3600);
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

/// `[store]`; an empty path is refused.
pub(super) fn store_settings(raw: &RawStore, problems: &mut Vec<Problem>) -> StoreSettings {
    let path = raw.path.as_deref().unwrap_or(DEFAULT_STORE_PATH);
    if path.trim().is_empty() {
        problems.push(Problem {
            route: None,
            field: "store.path".into(),
            message: "must not be empty".into(),
        });
    }
    let visibility_timeout = duration(
        &raw.visibility_timeout,
        DEFAULT_VISIBILITY_TIMEOUT,
        MAX_VISIBILITY_TIMEOUT,
    )
    .unwrap_or_else(|message| {
        problems.push(Problem {
            route: None,
            field: "store.visibility_timeout".into(),
            message,
        });
        DEFAULT_VISIBILITY_TIMEOUT
    });
    StoreSettings {
        path: PathBuf::from(path),
        backend: store_backend(raw, problems),
        visibility_timeout,
    }
}

/// The route's queue settings, or `None` with the problems recorded.
pub(super) fn queue_settings(
    raw: &RawRoute,
    problems: &mut FieldProblems,
) -> Option<QueueSettings> {
    let concurrency = within(
        raw.concurrency,
        DEFAULT_CONCURRENCY,
        MAX_CONCURRENCY,
        ("concurrency", problems),
    );
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
    Some(QueueSettings {
        concurrency: concurrency? as usize,
        retry: retry?,
        max_queued: max_queued?,
        retention: retention?,
    })
}

fn retry_policy(raw: &RawRetry, problems: &mut FieldProblems) -> Option<RetryPolicy> {
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
    if max_backoff < initial_backoff {
        let show = |d| humantime::format_duration(d).to_string();
        problems.push((
            "retry.max_backoff",
            format!(
                "`{}` is below retry.initial_backoff `{}`",
                show(max_backoff),
                show(initial_backoff)
            ),
        ));
        return None;
    }
    Some(RetryPolicy {
        max_attempts: max_attempts? as u32,
        initial_backoff,
        max_backoff,
    })
}

/// `value` (or `default`) when between 1 and `max`; a problem on `field` otherwise.
fn within(
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
