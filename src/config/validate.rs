//! Schema → runtime types, collecting every problem with its route and field.

use std::collections::HashMap;
use std::time::Duration;

use poem::http::HeaderValue;
use poem::http::Uri;
use url::Url;

use super::Problem;
use super::destinations::{Inherited, NamedProblems, destinations};
use super::log::log_settings;
use super::networks::networks;
use super::pacing;
use super::queue::{dedupe_settings, queue_settings};
use super::schema::{RawConfig, RawRoute};
use super::server::{ServerSettings, server_settings};
use super::signature;
use super::store::{StoreBackend, StoreSettings};
use crate::routes::{Route, RouteTable, is_gateway_path};

/// A valid file: its `[server]`, its routes, and what is valid but risky.
#[derive(Debug)]
pub struct Valid {
    /// `[server]`, `[admin]` and `[store]`.
    pub server: ServerSettings,
    /// `[routes.*]`.
    pub routes: RouteTable,
    /// Warnings, e.g. a weak signature algorithm.
    pub warnings: Vec<Problem>,
}

const MAX_BODY_BYTES_CEILING: u64 = 64 * 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest downstream `timeout`, and `[server] shutdown_timeout`.
pub(super) const MAX_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_MAX_IN_FLIGHT: u64 = 1024;
/// The runbook: escalate when 5xx answers persist for more than 5 minutes.
const DEFAULT_ALERT_AFTER: Duration = Duration::from_secs(300);
const MAX_ALERT_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Checks the whole file; returns every problem, not just the first.
pub fn validate(raw: &RawConfig) -> Result<Valid, Refused> {
    let mut problems = Vec::new();
    let server = server_settings(raw, &mut problems);
    let mut routes = Vec::new();
    let mut warnings = Vec::new();
    for (name, raw_route) in &raw.routes {
        let (mut route_problems, mut named) = (Vec::new(), Vec::new());
        if let Some(route) = route(name, raw_route, &server, &mut route_problems, &mut named) {
            let outlived = pacing::outlived_schedules(&route).into_iter();
            warnings.extend(outlived.map(|(field, message)| Problem {
                route: Some(name.clone()),
                field,
                message,
            }));
            routes.push(route);
        }
        let located = |(field, message): (&str, String)| Problem {
            route: Some(name.clone()),
            field: field.to_string(),
            message,
        };
        problems.extend(route_problems.into_iter().map(located));
        problems.extend(named.into_iter().map(|(field, message)| Problem {
            route: Some(name.clone()),
            field,
            message,
        }));
        let warning = signature::warning(&raw_route.signature);
        warnings.extend(warning.map(|m| located(("signature.algorithm", m.into()))));
    }
    problems.extend(duplicate_paths(raw));
    problems.extend(shared_lanes(&routes));
    if problems.is_empty() {
        let routes = RouteTable::new(routes);
        Ok(Valid {
            server,
            routes,
            warnings,
        })
    } else {
        Err(Refused { problems, warnings })
    }
}

/// Why [`validate`] refused a file: every problem, and the warnings it
/// would have had besides (`hookgate check` prints both).
#[derive(Debug)]
pub struct Refused {
    /// Every problem.
    pub problems: Vec<Problem>,
    /// Every warning.
    pub warnings: Vec<Problem>,
}

/// Problems of one route: the field and what is wrong.
pub(super) type FieldProblems = Vec<(&'static str, String)>;

fn route(
    name: &str,
    raw: &RawRoute,
    server: &ServerSettings,
    problems: &mut FieldProblems,
    named: &mut NamedProblems,
) -> Option<Route> {
    let route_header = HeaderValue::from_str(name)
        .map_err(|_| problems.push(("name", format!("`{name}` cannot be sent as a header value"))))
        .ok();
    let path = check_path(&raw.path)
        .map_err(|m| problems.push(("path", m)))
        .ok();
    // Checked here, not per destination: one problem for the route's key.
    let _ = timeout(&raw.timeout, &server.store).map_err(|m| problems.push(("timeout", m)));
    let max_in_flight = match raw.max_in_flight {
        Some(0) => {
            problems.push(("max_in_flight", "must be at least 1".into()));
            None
        }
        other => Some(other.unwrap_or(DEFAULT_MAX_IN_FLIGHT)),
    };
    let allow_ips = match &raw.allow_ips {
        None => Some(None),
        Some(list) => networks(list)
            .map(Some)
            .map_err(|m| problems.push(("allow_ips", m)))
            .ok(),
    };
    let alert_after = duration(&raw.alert_after, DEFAULT_ALERT_AFTER, MAX_ALERT_AFTER)
        .map_err(|m| problems.push(("alert_after", m)))
        .ok();
    let queue = queue_settings(raw, problems);
    let destinations = queue.as_ref().and_then(|queue| {
        let from = Inherited {
            route: name,
            raw,
            queue,
            store: &server.store,
        };
        destinations(&from, named)
    });
    let dedupe = dedupe_settings(raw, problems);
    let log = log_settings(raw, problems);
    let max_body_bytes = match raw.max_body_bytes {
        Some(limit) => body_limit(limit)
            .map_err(|m| problems.push(("max_body_bytes", m)))
            .ok(),
        None => Some(server.max_body_bytes),
    };
    let verifier = signature::build(&raw.signature, server.environment)
        .map_err(|found| {
            let in_table = found.into_iter().map(|(f, m)| (signature_field(f), m));
            problems.extend(in_table)
        })
        .ok();
    Some(Route {
        name: name.to_string(),
        path: path?,
        enabled: raw.enabled,
        filtered: destinations.as_ref()?.0.iter().any(|d| d.filter.is_some()),
        primary: destinations.as_ref()?.1,
        destinations: destinations?.0,
        max_body_bytes: max_body_bytes?,
        max_in_flight: max_in_flight?,
        allow_ips: allow_ips?,
        log: log?.redacting(verifier.as_ref()?),
        alert_after: alert_after?,
        verifier: verifier?,
        route_header: route_header?,
        delivery: raw.delivery.unwrap_or_default(),
        queue: queue?,
        dedupe,
    })
}

/// A downstream request's `timeout`: at most [`MAX_TIMEOUT`], and below
/// the visibility timeout on Redis.
pub(super) fn timeout(text: &Option<String>, store: &StoreSettings) -> Result<Duration, String> {
    duration(text, DEFAULT_TIMEOUT, MAX_TIMEOUT)
        .and_then(|timeout| below_visibility_timeout(timeout, store))
}

/// On Redis, an attempt that outlives the visibility timeout would be taken
/// for abandoned and delivered again by another instance. Every route, not
/// only queued ones: a route switched to sync still delivers what it stored.
fn below_visibility_timeout(timeout: Duration, store: &StoreSettings) -> Result<Duration, String> {
    let on_redis = matches!(store.backend, StoreBackend::Redis { .. });
    if on_redis && timeout >= store.visibility_timeout {
        let show = |d| humantime::format_duration(d).to_string();
        return Err(format!(
            "`{}` must be below store.visibility_timeout `{}`",
            show(timeout),
            show(store.visibility_timeout)
        ));
    }
    Ok(timeout)
}

fn signature_field(field: &str) -> &'static str {
    match field {
        "secret" => "signature.secret",
        "secrets" => "signature.secrets",
        "secret_file" => "signature.secret_file",
        "tolerance" => "signature.tolerance",
        "header" => "signature.header",
        "query" => "signature.query",
        _ => "signature",
    }
}

fn check_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{path}` must be a plain path (no query, fragment or spaces)"
        ));
    }
    if is_gateway_path(path) {
        return Err(format!("`{path}` is one of the gateway's own endpoints"));
    }
    Ok(path.to_string())
}

/// The URL for display and the same URI for the client.
pub(super) fn downstream(text: &str) -> Result<(Url, Uri), String> {
    let shown = without_credentials(text);
    let url = Url::parse(text).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{shown}` is not an http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // The client keeps the URL in its pool key, which debug logs print.
        return Err(format!(
            "`{shown}` carries credentials (`user:password@`), which would show in debug \
             logs; authenticate the gateway another way, e.g. a token in the query string \
             (redacted wherever a URL is shown)"
        ));
    }
    let uri = url
        .as_str()
        .parse()
        .map_err(|e| format!("`{shown}` is not a URI the client takes: {e}"))?;
    Ok((url, uri))
}

/// A URL as it may appear in a log: no user info, no query (either may hold a token).
fn without_credentials(text: &str) -> String {
    let text = text.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = text.split_once("://") else {
        // Not a URL: whatever precedes an `@` may still be a password.
        return match text.rfind('@') {
            Some(at) => format!("***@{}", &text[at + 1..]),
            None => text.to_string(),
        };
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

/// `text` as a duration above 0 and at most `max`; `default` when absent.
pub(super) fn duration(
    text: &Option<String>,
    default: Duration,
    max: Duration,
) -> Result<Duration, String> {
    let Some(text) = text else {
        return Ok(default);
    };
    let value =
        humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration: {e}"))?;
    if value.is_zero() || value > max {
        return Err(format!(
            "`{text}` must be above 0 and at most {}",
            humantime::format_duration(max)
        ));
    }
    Ok(value)
}

/// A ceiling `high` not below the `low` of field `low_field` (a longest
/// wait and its first one).
pub(super) fn not_below(high: Duration, low: Duration, low_field: &str) -> Result<(), String> {
    if high >= low {
        return Ok(());
    }
    let show = |d| humantime::format_duration(d).to_string();
    Err(format!(
        "`{}` is below {low_field} `{}`",
        show(high),
        show(low)
    ))
}

pub(super) fn body_limit(limit: u64) -> Result<usize, String> {
    if limit == 0 || limit > MAX_BODY_BYTES_CEILING {
        return Err(format!(
            "{limit} must be between 1 and {MAX_BODY_BYTES_CEILING} bytes"
        ));
    }
    Ok(limit as usize)
}

/// Two destinations whose queues would share a name, e.g. destination `b`
/// of route `a` and the route named `a:b`.
fn shared_lanes(routes: &[Route]) -> Vec<Problem> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut problems = Vec::new();
    for route in routes {
        for destination in &route.destinations {
            if let Some(first) = owner.insert(&destination.lane, &route.name) {
                problems.push(Problem {
                    route: Some(route.name.clone()),
                    field: format!("destinations.{}", destination.name),
                    message: format!(
                        "its queue `{}` would be shared with route `{first}`: rename the route \
                         or the destination",
                        destination.lane
                    ),
                });
            }
        }
    }
    problems
}

/// Paths written twice, checked on the file as written so that a route with
/// other problems still shows this one.
fn duplicate_paths(raw: &RawConfig) -> Vec<Problem> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut problems = Vec::new();
    for (name, route) in &raw.routes {
        if let Some(first) = owner.insert(&route.path, name) {
            problems.push(Problem {
                route: Some(name.clone()),
                field: "path".into(),
                message: format!("`{}` is already the path of route `{first}`", route.path),
            });
        }
    }
    problems
}
