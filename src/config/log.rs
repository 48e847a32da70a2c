//! `[routes.NAME.log]`: what the event log keeps of a route's requests.

use std::time::Duration;

use poem::http::HeaderName;

use super::schema::RawRoute;
use super::validate::{FieldProblems, duration};
use crate::routes::LogSettings;

/// A week: long enough to find last weekend's failure on Monday, short
/// enough that a default log of personal data does not grow into an archive.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// About 100 MiB of 1 KiB bodies: a bound on the disk one route can take.
pub const DEFAULT_MAX_EVENTS: u64 = 100_000;
const MAX_MAX_EVENTS: u64 = 100_000_000;

/// The log settings of `raw`, adding a problem per bad key.
pub(super) fn log_settings(raw: &RawRoute, problems: &mut FieldProblems) -> Option<LogSettings> {
    let default = Default::default();
    let log = raw.log.as_ref().unwrap_or(&default);
    let retention = duration(&log.retention, DEFAULT_RETENTION, MAX_RETENTION)
        .map_err(|m| problems.push(("log.retention", m)))
        .ok();
    let max_events = match log.max_events.unwrap_or(DEFAULT_MAX_EVENTS) {
        n @ 1..=MAX_MAX_EVENTS => Some(n),
        n => {
            let message = format!("{n} must be between 1 and {MAX_MAX_EVENTS}");
            problems.push(("log.max_events", message));
            None
        }
    };
    let redact = log.redact_headers.as_deref().unwrap_or_default();
    let redact_headers = redact
        .iter()
        .map(|name| {
            HeaderName::try_from(name.as_str()).map_err(|_| {
                problems.push((
                    "log.redact_headers",
                    format!("`{name}` is not a header name"),
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .ok();
    let enabled = log.enabled.unwrap_or(true);
    Some(LogSettings {
        enabled,
        // Decided here, once: a route that logs nothing keeps no body, and
        // no request copies one.
        bodies: enabled && log.bodies.unwrap_or(true),
        retention: retention?,
        max_events: max_events?,
        redacted: redact_headers?,
    })
}
