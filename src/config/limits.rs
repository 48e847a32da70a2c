//! `[server]`'s protective limits: how many connections, and how long a
//! client may take to send a head, to start its next request, or to read.

use std::time::Duration;

use super::Problem;
use super::schema::RawServer;
use super::validate::duration;

/// Defaults like nginx's `client_header_timeout` (shorter: a webhook's head
/// is small), `keepalive_timeout` and `send_timeout` (shorter: answers are small).
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// The validated connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `max_connections`; `None` derives it from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
    /// `header_timeout`.
    pub header_timeout: Duration,
    /// `idle_timeout`.
    pub idle_timeout: Duration,
    /// `write_timeout`.
    pub write_timeout: Duration,
}

/// Validates the connection keys of `[server]`, adding a problem per bad one.
pub fn connection_settings(raw: &RawServer, problems: &mut Vec<Problem>) -> ConnectionSettings {
    let mut timeout = |field: &str, text: &Option<String>, default: Duration| {
        duration(text, default, MAX_CONNECTION_TIMEOUT).unwrap_or_else(|message| {
            problems.push(server_problem(field, message));
            default
        })
    };
    let header_timeout = timeout(
        "header_timeout",
        &raw.header_timeout,
        DEFAULT_HEADER_TIMEOUT,
    );
    let idle_timeout = timeout("idle_timeout", &raw.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    let write_timeout = timeout("write_timeout", &raw.write_timeout, DEFAULT_WRITE_TIMEOUT);
    let max_connections = match raw.max_connections {
        Some(0) => {
            problems.push(server_problem(
                "max_connections",
                "must be at least 1".into(),
            ));
            None
        }
        other => other.map(|n| n as usize),
    };
    ConnectionSettings {
        max_connections,
        header_timeout,
        idle_timeout,
        write_timeout,
    }
}

fn server_problem(field: &str, message: String) -> Problem {
    Problem {
        route: None,
        field: format!("server.{field}"),
        message,
    }
}

/// Defaults: 64 bodies of the default 1 MiB limit, and a client may upload
/// 32 bodies at once (a source behind a proxy shares one address).
const DEFAULT_MAX_UNVERIFIED_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_MAX_UNVERIFIED_PER_CLIENT: u64 = 32;

/// The validated budget of bodies not yet verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnverifiedSettings {
    /// `max_unverified_bytes`.
    pub max_bytes: usize,
    /// `max_unverified_per_client`.
    pub max_per_client: u32,
}

/// Validates the unverified-body keys of `[server]`; `max_body_bytes` is the
/// server's default body limit, which one body must be able to reach.
pub fn unverified_settings(
    raw: &RawServer,
    max_body_bytes: usize,
    problems: &mut Vec<Problem>,
) -> UnverifiedSettings {
    let max_bytes = raw
        .max_unverified_bytes
        .unwrap_or(DEFAULT_MAX_UNVERIFIED_BYTES);
    if max_bytes < max_body_bytes as u64 {
        let message = format!("{max_bytes} is below max_body_bytes ({max_body_bytes})");
        problems.push(server_problem("max_unverified_bytes", message));
    }
    let per_client = raw
        .max_unverified_per_client
        .unwrap_or(DEFAULT_MAX_UNVERIFIED_PER_CLIENT);
    if per_client == 0 || per_client > u32::MAX as u64 {
        let message = format!("{per_client} must be between 1 and {}", u32::MAX);
        problems.push(server_problem("max_unverified_per_client", message));
    }
    UnverifiedSettings {
        max_bytes: max_bytes as usize,
        max_per_client: per_client.clamp(1, u32::MAX as u64) as u32,
    }
}
