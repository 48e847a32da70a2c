//! The poem application: bind, serve, drain on shutdown.
//!
//! Every request first looks its path up in the live route table; paths that
//! are no route are either the gateway's own endpoints or a JSON 404.

pub mod api;
mod client;
mod console;
mod context;
mod dedupe_step;
mod error;
mod framework;
mod gateway;
mod listener;
pub mod openapi;
mod per_client;
mod rendered;
mod status;
mod trace;
mod unverified;
mod webhook;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use context::Context;
pub use error::WebhookError;

use crate::config::{self, ConfigError, Problem, Vars};
use crate::forward::Forwarder;
use crate::live::{Live, Snapshot};
use crate::queue::QueueSlot;
use crate::systemd::{self, Notifier};
use crate::telemetry::Traces;
use crate::{queue, reload};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The admin API's own listener could not be bound.
    #[error("cannot listen on {addr} ([admin] listen, the admin API's address): {source}")]
    AdminBind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SIGHUP could not be hooked for reloads.
    #[error("cannot handle SIGHUP: {0}")]
    Watch(#[source] std::io::Error),
    /// The store of queued events could not be opened.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// The HTTP client could not be built (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] crate::forward::ClientError),
    /// `[telemetry]`'s exporter could not be set up.
    #[error(transparent)]
    Traces(#[from] crate::telemetry::TracesError),
}

/// A built, bound gateway, ready to run.
pub struct Application {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
    /// `[admin] listen`'s own listener; `None` with `listen = "public"`.
    admin: Option<std::net::TcpListener>,
    context: Arc<Context>,
    watch: reload::Watch,
    notifier: Notifier,
}

impl Application {
    /// Loads the config at `config_path` with `vars` (the binary passes the
    /// process's environment) and binds its listen address, once per worker.
    pub async fn build(config_path: PathBuf, vars: Vars) -> Result<Self, StartError> {
        let config = config::load(&config_path, &vars)?;
        for warning in &config.warnings {
            tracing::warn!("{}: {warning}", config_path.display());
        }
        let traces = Traces::start(&config.telemetry)?;
        let addr = config.server.listen;
        let listeners = workers::bind(addr, config.server.workers)
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listeners[0]
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let admin = bind_admin(config.server.admin_listen)?;
        // Fail at start, not in a worker, when the client cannot be built.
        Forwarder::new()?;
        let queue = Arc::new(QueueSlot::default());
        queue.open_if_needed(&config)?;
        let live = Arc::new(Live::new(config));
        let prepare = {
            let queue = queue.clone();
            Box::new(move |config: &config::Config| {
                queue.open_if_needed(config).map_err(|e| Problem {
                    route: None,
                    field: "store.path".into(),
                    message: e.to_string(),
                })
            })
        };
        let notifier = Notifier::new(vars.get(systemd::NOTIFY_SOCKET));
        let reloader = reload::Reloader::new(config_path, vars, live.clone(), prepare);
        let watch = reload::watch(reloader).map_err(StartError::Watch)?;
        let mut context = Context::new(live, queue);
        context.traces = traces;
        let context = Arc::new(context);
        Ok(Self {
            listeners,
            addr,
            admin,
            context,
            watch,
            notifier,
        })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The admin API's own bound address (useful with port 0); `None` when
    /// it is served on the public listener (`[admin] listen = "public"`).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The live configuration.
    pub fn live(&self) -> Arc<Live> {
        self.context.live.clone()
    }

    /// Serves (and delivers queued events) until `shutdown` is cancelled,
    /// then lets in-flight requests and delivery attempts finish for at most
    /// `[server] shutdown_timeout`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let snapshot = self.context.live.load();
        let admin_addr = self.admin_addr();
        log_start(&snapshot, self.addr, admin_addr);
        let reloader = self.watch.reloader();
        let with_admin = self.admin.is_none();
        if let Some(admin) = self.admin {
            spawn_admin_listener(
                admin,
                self.context.clone(),
                reloader.clone(),
                shutdown.clone(),
            )?;
        }
        // Delivery on a thread of its own: a backlog being delivered does
        // not hold up the admin API, reloads or signals, nor they it.
        let delivery = spawn_delivery(queue::delivery::run(
            self.context.live.clone(),
            self.context.queue.clone(),
            Forwarder::new().map_err(std::io::Error::other)?,
            self.context.events.clone(),
            self.context.traces.clone(),
            shutdown.clone(),
        ))?;
        let history = self.context.history.clone();
        tokio::spawn(history.run(self.context.live.clone(), shutdown.clone()));
        let drain = snapshot.config.server.shutdown_timeout;
        // One drain deadline for everything, counted from the shutdown signal.
        let stopping_since = {
            let (shutdown, notifier) = (shutdown.clone(), self.notifier);
            tokio::spawn(async move {
                shutdown.cancelled().await;
                notifier.stopping();
                tokio::time::Instant::now()
            })
        };
        let shared = workers::Shared {
            context: self.context.clone(),
            reloader,
            shutdown,
            with_admin,
            limits: worker_limits(&snapshot.config.server),
        };
        let threads = self
            .listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| workers::spawn(index, listener, shared.clone()))
            .collect::<std::io::Result<Vec<_>>>()?;
        // The listeners accept since `build`; a reload (SIGHUP and file
        // events are captured since then too) now waits for this READY=1.
        self.notifier.ready(&ready_status(&snapshot, self.addr));
        tokio::spawn(self.watch.run(shared.shutdown.clone()));
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("a worker panicked")))
                })
                .collect::<std::io::Result<Vec<()>>>()
        })
        .await
        .map_err(std::io::Error::other)?;
        joined?;
        // The workers only end on shutdown; make sure delivery stops with them.
        shared.shutdown.cancel();
        let deadline = match stopping_since.await {
            Ok(since) => since + drain,
            Err(_) => tokio::time::Instant::now() + drain,
        };
        if tokio::time::timeout_at(deadline, delivery).await.is_err() {
            // Unfinished attempts stay pending in the store: attempted again after restart.
            tracing::warn!(
                "delivery attempts still in flight at shutdown; their events stay queued"
            );
        }
        if let Some(traces) = self.context.traces.clone() {
            // Blocks until the last spans are sent (bounded): off the runtime.
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Runs queued delivery on a thread of its own with a single-threaded
/// runtime, apart from the request workers and the control plane; the
/// receiver hears when it has ended. One thread, as on the control plane
/// before: its tasks start in the order they were spawned, so a worker's
/// events go out oldest first (a multi-threaded runtime runs the newest
/// spawned task first).
fn spawn_delivery(
    delivery: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ended, ends) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hookgate-delivery".into())
        .spawn(move || {
            runtime.block_on(delivery);
            let _ = ended.send(());
        })?;
    Ok(ends)
}

/// Each worker's share of the connection cap, and the deadlines; the cap
/// defaults to what the file-descriptor limit (raised first) allows.
fn worker_limits(server: &config::ServerSettings) -> listener::Limits {
    let fd_limit = listener::fd_limit::raise();
    let cap = match server.connections.max_connections {
        Some(cap) => {
            listener::fd_limit::check(cap, fd_limit);
            cap
        }
        None => listener::fd_limit::default_cap(fd_limit),
    };
    let per_worker = cap.div_ceil(server.workers);
    tracing::info!(
        max_connections = per_worker * server.workers,
        fd_limit,
        "connection cap"
    );
    listener::Limits {
        max_connections: per_worker,
        timeouts: timeouts(server),
        drain: server.shutdown_timeout,
    }
}

fn timeouts(server: &config::ServerSettings) -> listener::Timeouts {
    let connections = &server.connections;
    listener::Timeouts {
        header: connections.header_timeout,
        idle: connections.idle_timeout,
        write: connections.write_timeout,
    }
}

/// Binds `[admin] listen`'s own listener, unless the admin API is served on
/// the public one.
fn bind_admin(listen: config::AdminListen) -> Result<Option<std::net::TcpListener>, StartError> {
    let Some(addr) = listen.own() else {
        return Ok(None);
    };
    let bound = std::net::TcpListener::bind(addr).and_then(|listener| {
        listener.set_nonblocking(true)?;
        Ok(listener)
    });
    bound
        .map(Some)
        .map_err(|source| StartError::AdminBind { addr, source })
}

/// Serves the admin API alone on its own address, with its own small cap,
/// so it stays reachable when the public listeners are full.
fn spawn_admin_listener(
    listener: std::net::TcpListener,
    context: Arc<Context>,
    reloader: Arc<crate::reload::Reloader>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "admin API listening");
    let snapshot = context.live.load();
    let server = &snapshot.config.server;
    let limits = listener::Limits {
        max_connections: listener::fd_limit::ADMIN_CONNECTIONS,
        timeouts: timeouts(server),
        drain: server.shutdown_timeout,
    };
    let metrics = context.live.metrics().connections.clone();
    let endpoint = gateway::admin_only(context.clone(), reloader);
    tokio::spawn(listener::serve(
        listener, endpoint, limits, metrics, shutdown,
    ));
    Ok(())
}

/// `systemctl status`'s line once ready: where it listens, which config.
fn ready_status(snapshot: &Snapshot, addr: SocketAddr) -> String {
    let config = &snapshot.config;
    format!(
        "listening on {addr}, {} routes, config {}",
        config.routes.len(),
        config.content_hash
    )
}

fn log_start(snapshot: &Snapshot, addr: SocketAddr, admin_addr: Option<SocketAddr>) {
    let config = &snapshot.config;
    if config.server.environment == config::Environment::Development {
        tracing::warn!("ENVIRONMENT IS DEVELOPMENT: signatures are NOT verified on any route");
    }
    for route in config.routes.iter() {
        tracing::info!(
            route = %route.name,
            path = %route.path,
            scheme = route.verifier.scheme(),
            delivery = route.delivery.as_str(),
            enabled = route.enabled,
            "route"
        );
    }
    // The admin address rides on this line: tests of the binary read both from it.
    let admin_addr = admin_addr.map_or_else(|| "public".to_string(), |a| a.to_string());
    tracing::info!(%addr, %admin_addr, config_hash = %config.content_hash, "listening");
}
