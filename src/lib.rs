//! hookgate: an inbound webhook gateway.
//!
//! A source (Chatwoot, GitHub, Stripe, ...) POSTs an event to a route; the
//! gateway checks the signature over the exact raw bytes, forwards those bytes
//! unchanged to the route's downstream and answers the source with the outcome.
//!
//! # Layout
//!
//! - [`config`]: `routes.toml` → text → parse → interpolate → validate → [`config::Config`].
//! - [`routes`]: the validated runtime types, [`routes::Route`] and [`routes::RouteTable`].
//! - [`signature`]: one file per signature scheme behind [`signature::Verifier`].
//! - [`forward`]: the pooled HTTP client and the header rules for the downstream call.
//! - [`server`]: the poem application, the webhook handler and the error → status mapping.
//! - [`queue`]: queued delivery: the durable store (SQLite with group commit, or Redis
//!   Streams) and the delivery workers.
//! - [`reload`]: watching the config file and swapping in a new snapshot.
//! - [`dedupe`]: dedupe keys of deliveries, in process or on Redis.
//! - [`redis_link`]: the lazily made Redis connection both share.
//! - [`openapi`]: the OpenAPI document generated from the live routes.
//! - [`metrics`], [`streak`]: Prometheus metrics and per-route failure streaks.
//! - [`telemetry`]: tracing subscriber set-up.
//! - [`cli`]: the `hookgate` command line and its subcommands.

pub mod cli;
pub mod config;
pub mod dedupe;
pub mod forward;
pub mod metrics;
pub mod openapi;
pub mod queue;
pub mod redis_link;
pub mod reload;
pub mod routes;
pub mod server;
pub mod signature;
pub mod streak;
pub mod telemetry;
