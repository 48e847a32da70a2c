//! The gateway's own endpoints, described with poem-openapi.
//!
//! `PublicApi` is served on the public listener; `AdminApi`, `QueueApi` (a
//! route's queue), `EventsApi` (the event log) and `HistoryApi` (the last
//! hour) on the public one or on `[admin] listen`, behind `auth.rs`.
//! All feed the generated spec.

mod auth;
mod events;
mod failure;
mod guard;
mod history;
mod queue;
mod queue_views;
pub mod session;

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::status;
use crate::reload::{Outcome, Reloader};

use auth::check;
pub use auth::{AdminAuth, AdminToken, ConsoleSession};
pub(crate) use auth::{session_of, token_matches};
pub use events::EventsApi;
pub use failure::{AdminError, AdminFailure, AdminResult, ErrorBody};
pub use guard::{AdminGuard, LOCKOUT};
pub use history::HistoryApi;
pub use queue::QueueApi;
pub use session::Session;

#[derive(Tags)]
enum Tag {
    /// Liveness, readiness and metrics.
    Gateway,
    /// Token-guarded operations (`[admin] token`).
    Admin,
}

/// Liveness and the live config's identity.
#[derive(Object)]
pub struct Health {
    /// `ok`.
    status: String,
    /// 1 at start, +1 per applied reload.
    config_generation: u64,
    /// First 12 hex digits of the config file's SHA-256.
    config_hash: String,
}

/// Readiness.
#[derive(Object)]
pub struct Readiness {
    /// `ready` or `shutting down`.
    status: String,
    /// Generation of the live config.
    config_generation: u64,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// A valid config is loaded.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// The gateway is draining for shutdown.
    #[oai(status = 503)]
    ShuttingDown(Json<Readiness>),
}

/// Endpoints every operator and load balancer may call.
pub struct PublicApi;

#[OpenApi]
impl PublicApi {
    /// Liveness: the process is up and serving.
    #[oai(path = "/healthz", method = "get", tag = "Tag::Gateway")]
    async fn healthz(&self, context: Data<&Arc<Context>>) -> Json<Health> {
        let snapshot = context.live.load();
        Json(Health {
            status: "ok".into(),
            config_generation: snapshot.generation,
            config_hash: snapshot.config.content_hash.clone(),
        })
    }

    /// Readiness: 200 once a valid config is loaded, 503 while shutting down.
    #[oai(path = "/readyz", method = "get", tag = "Tag::Gateway")]
    async fn readyz(
        &self,
        context: Data<&Arc<Context>>,
        shutdown: Data<&CancellationToken>,
    ) -> ReadyResponse {
        let config_generation = context.live.load().generation;
        if shutdown.is_cancelled() {
            let status = "shutting down".into();
            return ReadyResponse::ShuttingDown(Json(Readiness {
                status,
                config_generation,
            }));
        }
        ReadyResponse::Ready(Json(Readiness {
            status: "ready".into(),
            config_generation,
        }))
    }

    /// Prometheus metrics in the text exposition format.
    #[oai(path = "/metrics", method = "get", tag = "Tag::Gateway")]
    async fn metrics(&self, context: Data<&Arc<Context>>) -> PlainText<String> {
        PlainText(context.live.render_metrics())
    }
}

/// The token-guarded admin API.
pub struct AdminApi;

#[OpenApi]
impl AdminApi {
    /// Every route: enabled, delivery mode, in-flight, failure streak, destinations' breakers. No secrets.
    #[oai(path = "/admin/status", method = "get", tag = "Tag::Admin")]
    async fn status(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
    ) -> AdminResult<serde_json::Value> {
        check(&context, &auth, request)?;
        Ok(Json(status::of(&context.live.load())))
    }

    /// Reload the config file now, as SIGHUP does.
    #[oai(path = "/admin/reload", method = "post", tag = "Tag::Admin")]
    async fn reload(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        reloader: Data<&Arc<Reloader>>,
    ) -> AdminResult<serde_json::Value> {
        check(&context, &auth, request)?;
        let reloader = reloader.clone();
        let reloaded = tokio::task::spawn_blocking(move || reloader.reload_logged(true))
            .await
            .map_err(|_| AdminError::ReloadLost)?;
        Ok(Json(match reloaded.map_err(AdminError::from)? {
            Outcome::Applied { generation, hash } => serde_json::json!(
                {"success": true, "config_generation": generation, "config_hash": hash}
            ),
            Outcome::Unchanged => serde_json::json!({"success": true}),
        }))
    }
}
