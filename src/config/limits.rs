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
