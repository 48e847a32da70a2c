//! A route's destinations, validated: `downstream` (one destination named
//! `default`) or `[routes.NAME.destinations.*]`, never both, with their
//! filters, added headers, signing keys and delivery settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use super::pacing;
use super::queue::{concurrency, retry_policy};
use super::schema::{OneOrMany, RawDestination, RawRetry, RawRoute};
use super::store::StoreSettings;
use super::validate::{FieldProblems, downstream, timeout};
use crate::routes::{DEFAULT_DESTINATION, Delivery, Destination, Filter, QueueSettings};
use crate::signature::Signer;

/// Problems of destinations: the field (`destinations.NAME.key`) and what is wrong.
pub(super) type NamedProblems = Vec<(String, String)>;

/// Headers the gateway sets itself, or that would break the request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "traceparent",
    "tracestate",
];

/// What every destination of a route inherits.
pub(super) struct Inherited<'a> {
    pub route: &'a str,
    pub raw: &'a RawRoute,
    pub queue: &'a QueueSettings,
    pub store: &'a StoreSettings,
}

/// The route's destinations and the index of its primary one.
pub(super) fn destinations(
    from: &Inherited<'_>,
    problems: &mut NamedProblems,
) -> Option<(Vec<Arc<Destination>>, usize)> {
    let raw = from.raw;
    let one;
    let declared: Vec<(&str, &RawDestination)> = match (&raw.downstream, &raw.destinations) {
        (Some(_), Some(_)) => {
            problems.push((
                "downstream".into(),
                "set either `downstream` (one destination) or \
                 `[routes.NAME.destinations.*]`, not both: move the URL into a destination \
                 (`url = ...`) or drop the destinations"
                    .into(),
            ));
            return None;
        }
        (None, None) => {
            problems.push((
                "downstream".into(),
                "is missing: set `downstream = \"http://...\"` or at least one \
                 `[routes.NAME.destinations.DEST]` with a `url`"
                    .into(),
            ));
            return None;
        }
        (Some(url), None) => {
            one = shorthand(url);
            vec![(DEFAULT_DESTINATION, &one)]
        }
        (None, Some(table)) if table.is_empty() => {
            problems.push(("destinations".into(), "lists no destination".into()));
            return None;
        }
        (None, Some(table)) => table.iter().map(|(name, d)| (name.as_str(), d)).collect(),
    };
    let shorthand_only = raw.downstream.is_some();
    let mut built = Vec::new();
    for &(name, dest) in &declared {
        let field = |key: &str| match shorthand_only {
            true => key.to_string(),
            false => format!("destinations.{name}.{key}"),
        };
        let mut local = FieldProblems::new();
        let made = destination(from, name, dest, &mut local, problems, &field);
        problems.extend(local.into_iter().map(|(f, m)| (field(f), m)));
        built.push(made);
    }
    let mut built: Vec<Destination> = built.into_iter().collect::<Option<_>>()?;
    let primary = primary_of(from, &built, problems)?;
    // The only destination is the primary whatever it says.
    for (i, destination) in built.iter_mut().enumerate() {
        destination.primary = i == primary;
    }
    Some((built.into_iter().map(Arc::new).collect(), primary))
}

/// A `downstream` key as the destination it declares.
fn shorthand(url: &str) -> RawDestination {
    RawDestination {
        url: url.to_string(),
        primary: None,
        timeout: None,
        filter: None,
        headers: None,
        sign: None,
        concurrency: None,
        retry: None,
        rate_limit: None,
        breaker: None,
    }
}

fn destination(
    from: &Inherited<'_>,
    name: &str,
    raw: &RawDestination,
    problems: &mut FieldProblems,
    named: &mut NamedProblems,
    field: &dyn Fn(&str) -> String,
) -> Option<Destination> {
    let valid_name = check_name(name)
        .map_err(|m| named.push((field("name"), m)))
        .ok();
    let url_field = if raw_is_shorthand(from) {
        "downstream"
    } else {
        "url"
    };
    let target = downstream(&raw.url)
        .map_err(|m| problems.push((url_field, m)))
        .ok();
    // A bad route-level timeout is the route's problem, reported once.
    let timeout = match &raw.timeout {
        None => timeout(&from.raw.timeout, from.store).ok(),
        own => timeout(own, from.store)
            .map_err(|m| problems.push(("timeout", m)))
            .ok(),
    };
    let filter = match &raw.filter {
        None => Some(None),
        Some(table) => filter(table)
            .map(Some)
            .map_err(|m| problems.push(("filter", m)))
            .ok(),
    };
    let headers = headers(raw, problems);
    let sign = match &raw.sign {
        None => Some(None),
        Some(sign) => Signer::new(sign.secret.expose_secret())
            .map(Some)
            .map_err(|m| problems.push(("sign.secret", m)))
            .ok(),
    };
    let queue = destination_queue(from, raw, problems);
    valid_name?;
    let (url, uri) = target?;
    Some(Destination {
        name: name.to_string(),
        lane: Destination::lane_of(from.route, name),
        url,
        uri,
        timeout: timeout?,
        primary: raw.primary.unwrap_or(false),
        filter: filter?,
        headers: headers?,
        sign: sign?,
        queue: queue?,
    })
}

fn raw_is_shorthand(from: &Inherited<'_>) -> bool {
    from.raw.downstream.is_some()
}

/// Destination names are part of queue names, metric labels and URLs.
fn check_name(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 64 || !name.chars().all(fine) {
        return Err(format!(
            "`{name}` must be 1 to 64 letters, digits, `_` or `-`"
        ));
    }
    Ok(())
}

fn filter(table: &BTreeMap<String, OneOrMany>) -> Result<Filter, String> {
    let conditions: Vec<(String, Vec<String>)> = (table.iter())
        .map(|(field, values)| (field.clone(), values.to_vec()))
        .collect();
    Filter::new(&conditions)
}

/// The added headers, values marked sensitive; a problem names the header,
/// never its value.
fn headers(
    raw: &RawDestination,
    problems: &mut FieldProblems,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let Some(table) = &raw.headers else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (name, value) in table {
        let Ok(header) = HeaderName::try_from(name.as_str()) else {
            problems.push(("headers", format!("`{name}` is not a header name")));
            ok = false;
            continue;
        };
        let lower = header.as_str();
        if RESERVED_HEADERS.contains(&lower) || lower.starts_with("x-hookgate-") {
            problems.push(("headers", format!("`{name}` is set by the gateway itself")));
            ok = false;
            continue;
        }
        if lower.starts_with("webhook-") && raw.sign.is_some() {
            problems.push(("headers", format!("`{name}` would clash with `sign`")));
            ok = false;
            continue;
        }
        match HeaderValue::from_str(value.expose_secret()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                out.push((header, value));
            }
            Err(_) => {
                problems.push((
                    "headers",
                    format!("the value of `{name}` is not a valid header value"),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// The route's delivery settings with this destination's `concurrency`,
/// `rate_limit`, `[retry]` and `[breaker]` keys over them, key by key.
fn destination_queue(
    from: &Inherited<'_>,
    raw: &RawDestination,
    problems: &mut FieldProblems,
) -> Option<QueueSettings> {
    let route = from.raw;
    let concurrency = match raw.concurrency {
        None => Some(from.queue.concurrency),
        some => concurrency(some, problems),
    };
    let retry = match &raw.retry {
        None => Some(from.queue.retry),
        Some(own) => {
            let inherited = route.retry.as_ref();
            let merged = RawRetry {
                max_attempts: own.max_attempts.or(inherited.and_then(|r| r.max_attempts)),
                initial_backoff: (own.initial_backoff.clone())
                    .or_else(|| inherited.and_then(|r| r.initial_backoff.clone())),
                max_backoff: (own.max_backoff.clone())
                    .or_else(|| inherited.and_then(|r| r.max_backoff.clone())),
            };
            retry_policy(&merged, problems)
        }
    };
    let rate_limit = match &raw.rate_limit {
        None => Some(from.queue.rate_limit),
        own => pacing::rate_limit(own, problems),
    };
    let breaker = match &raw.breaker {
        None => Some(from.queue.breaker),
        Some(own) => pacing::breaker(&pacing::merged(own, route.breaker.as_ref()), problems),
    };
    Some(QueueSettings {
        concurrency: concurrency?,
        retry: retry?,
        max_queued: from.queue.max_queued,
        retention: from.queue.retention,
        rate_limit: rate_limit?,
        breaker: breaker?,
    })
}

/// A sync route with several destinations calls one while the source
/// waits: exactly one must say `primary = true`. One destination is the
/// primary whatever it says.
fn primary_of(
    from: &Inherited<'_>,
    built: &[Destination],
    problems: &mut NamedProblems,
) -> Option<usize> {
    let marked: Vec<usize> = (0..built.len()).filter(|&i| built[i].primary).collect();
    match (built.len(), marked.as_slice()) {
        (1, _) => Some(0),
        (_, [one]) => Some(*one),
        (_, []) if from.raw.delivery.unwrap_or_default() == Delivery::Queued => Some(0),
        (_, []) => {
            problems.push((
                "destinations".into(),
                "a sync route with several destinations needs one marked `primary = true`: \
                 the one called while the source waits (the others are delivered from the \
                 queue)"
                    .into(),
            ));
            None
        }
        (_, several) => {
            let names: Vec<&str> = several.iter().map(|&i| built[i].name.as_str()).collect();
            problems.push((
                "destinations".into(),
                format!(
                    "only one destination may be `primary`; found {}",
                    names.join(", ")
                ),
            ));
            None
        }
    }
}
