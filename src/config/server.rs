//! The `[server]`, `[admin]` and `[store]` tables: what the whole gateway
//! runs with, as opposed to each route.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use super::Problem;
use super::admin::AdminListen;
use super::limits::{
    ConnectionSettings, UnverifiedSettings, connection_settings, unverified_settings,
};
use super::networks::networks;
use super::schema::{RawAdmin, RawConfig, RawServer};
use super::store::{StoreSettings, store_settings};
use super::validate::{MAX_TIMEOUT, body_limit, duration};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_WORKERS: u64 = 256;

/// The validated `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The public listener's address.
    pub listen: SocketAddr,
    /// Whether signatures are enforced.
    pub environment: super::Environment,
    /// Default body limit.
    pub max_body_bytes: usize,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Worker threads (a runtime and a listener each).
    pub workers: usize,
    /// Connection cap and deadlines.
    pub connections: ConnectionSettings,
    /// The budget of bodies not yet verified.
    pub unverified: UnverifiedSettings,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The admin API, when a token is set.
    pub admin: Option<AdminSettings>,
    /// `[admin] listen`: the admin API's own listener (loopback by
    /// default), bound at start whether or not a token is set yet, or the
    /// public one (restart to change).
    pub admin_listen: AdminListen,
    /// Where queued events are kept.
    pub store: StoreSettings,
    /// Whether a reload may remove every route (otherwise a file without a
    /// route is taken for one caught mid-write, and refused).
    pub allow_no_routes: bool,
}

/// The validated `[admin]` token: the admin API is on while it is set.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The bearer token.
    pub token: SecretString,
}

impl PartialEq for AdminSettings {
    fn eq(&self, other: &Self) -> bool {
        self.token.expose_secret() == other.token.expose_secret()
    }
}

impl Eq for AdminSettings {}

/// `[server]`, `[admin]` and `[store]`, each problem named `server.FIELD`,
/// `admin.FIELD` or `store.FIELD`.
pub(super) fn server_settings(raw: &RawConfig, problems: &mut Vec<Problem>) -> ServerSettings {
    let mut problem = |field: &str, message: String| {
        problems.push(Problem {
            route: None,
            field: format!("server.{field}"),
            message,
        })
    };
    let server = &raw.server;
    let listen_text = server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen_text.parse().unwrap_or_else(|_| {
        problem(
            "listen",
            format!("`{listen_text}` is not an ip:port address"),
        );
        DEFAULT_LISTEN.parse().expect("the default address parses")
    });
    let max_body_bytes = body_limit(server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES))
        .unwrap_or_else(|message| {
            problem("max_body_bytes", message);
            0
        });
    let shutdown_timeout = duration(
        &server.shutdown_timeout,
        DEFAULT_SHUTDOWN_TIMEOUT,
        MAX_TIMEOUT,
    )
    .unwrap_or_else(|message| {
        problem("shutdown_timeout", message);
        DEFAULT_SHUTDOWN_TIMEOUT
    });
    let workers = workers(server).unwrap_or_else(|message| {
        problem("workers", message);
        1
    });
    ServerSettings {
        listen,
        workers,
        connections: connection_settings(server, problems),
        unverified: unverified_settings(server, max_body_bytes, problems),
        trusted_proxies: trusted_proxies(server, problems),
        environment: server.environment.unwrap_or_default(),
        max_body_bytes,
        shutdown_timeout,
        admin: admin_token(&raw.admin, problems),
        admin_listen: admin_listen(&raw.admin, problems),
        store: store_settings(&raw.store, problems),
        allow_no_routes: server.allow_no_routes.unwrap_or(false),
    }
}

fn trusted_proxies(raw: &RawServer, problems: &mut Vec<Problem>) -> Vec<IpNet> {
    let Some(list) = &raw.trusted_proxies else {
        return Vec::new();
    };
    networks(list).unwrap_or_else(|message| {
        problems.push(Problem {
            route: None,
            field: "server.trusted_proxies".into(),
            message,
        });
        Vec::new()
    })
}

fn workers(raw: &RawServer) -> Result<usize, String> {
    match raw.workers {
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        Some(n @ 1..=MAX_WORKERS) => Ok(n as usize),
        Some(n) => Err(format!("{n} must be between 1 and {MAX_WORKERS}")),
    }
}

/// A shorter admin token could be guessed.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The admin API is on while a non-empty token is set; a short one is refused.
fn admin_token(raw: &RawAdmin, problems: &mut Vec<Problem>) -> Option<AdminSettings> {
    let token = raw.token.as_ref()?;
    let length = token.expose_secret().chars().count();
    if length == 0 {
        return None;
    }
    if length < MIN_ADMIN_TOKEN_LEN {
        problems.push(Problem {
            route: None,
            field: "admin.token".into(),
            message: format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters long"),
        });
        return None;
    }
    Some(AdminSettings {
        token: token.clone(),
    })
}

fn admin_listen(raw: &RawAdmin, problems: &mut Vec<Problem>) -> AdminListen {
    AdminListen::parse(raw.listen.as_deref()).unwrap_or_else(|message| {
        problems.push(Problem {
            route: None,
            field: "admin.listen".into(),
            message,
        });
        AdminListen::default()
    })
}
