//! hookgate: an inbound webhook gateway.
//!
//! A source (Chatwoot, GitHub, Stripe, ...) POSTs an event to a route; the
//! gateway checks the signature over the exact raw bytes, forwards those bytes
//! unchanged to the route's downstream and answers the source with the outcome.
//!
//! # Layout
//!
//! - [`config`]: `routes.toml` → text → parse → interpolate → validate → [`config::Config`].
//! - [`routes`]: the validated runtime types, [`routes::Route`] and [`routes::RouteTable`],
//!   and which of a route's destinations an event goes to ([`routes::Route::targets`]).
//! - [`signature`]: one file per signature scheme behind [`signature::Verifier`]; the
//!   timestamped ones share their keys, replay window and its check (`Timed`).
//! - [`forward`]: the pooled HTTP client and the header rules for the downstream call.
//! - [`live`]: the live snapshot (one `ArcSwap`) that requests, workers and the
//!   reloader read, with each route's metrics.
//! - [`server`]: the poem application, the webhook handler, the error → status
//!   mapping and the OpenAPI document generated from the live routes.
//! - [`queue`]: queued delivery: the durable store (SQLite with group commit, or Redis
//!   Streams) and the delivery workers.
//! - [`events`]: the event log: a record of every request and delivery
//!   attempt, written off the request path, read by the admin API and CLI.
//! - [`history`]: each route's last hour in 10-second buckets, sampled off
//!   the request path, for the console.
//! - [`replay`]: event log records delivered again through the queue, one
//!   or every record a filter selects (admin API and CLI).
//! - [`reload`]: watching the config file and publishing a new snapshot.
//! - [`dedupe`]: dedupe keys of deliveries, in process or on Redis.
//! - [`redis_link`]: the Redis connection each of them holds, made on first
//!   use; every call bounded, failing fast for a second after a failure.
//! - [`metrics`], [`streak`]: Prometheus metrics and per-route failure streaks.
//! - [`pacing`]: each destination's rate limit, `Retry-After` pause and
//!   circuit breaker for queued delivery, kept across reloads in [`live`].
//! - [`quiet`]: a lasting fault logged once per interval, not once per try.
//! - [`sqlite_memory`]: one soft heap limit for every SQLite connection.
//! - [`telemetry`]: tracing subscriber set-up; OpenTelemetry traces over OTLP/HTTP.
//! - [`systemd`]: readiness, reload and shutdown notifications to systemd.
//! - [`cli`]: the `hookgate` command line and its subcommands.

pub mod cli;
pub mod config;
pub mod dedupe;
pub mod events;
pub mod forward;
pub mod history;
pub mod live;
pub mod metrics;
pub mod pacing;
pub mod queue;
pub mod quiet;
pub mod redis_link;
pub mod reload;
pub mod replay;
pub mod routes;
pub mod server;
pub mod signature;
pub mod sqlite_memory;
pub mod streak;
pub mod systemd;
pub mod telemetry;
