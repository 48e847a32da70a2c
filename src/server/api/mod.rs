//! The gateway's own endpoints, described with poem-openapi.
//!
//! `PublicApi` is served on the public listener; `AdminApi`, `QueueApi` and `EventsApi`
//! (a route's queue, in `queue.rs`) on the public one or on `[admin] listen`.
//! All feed the generated spec.

mod events;
mod failure;
mod guard;
mod queue;

use std::sync::Arc;

use poem::web::{Data, RemoteAddr};
use poem_openapi::auth::Bearer;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme, Tags};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::status;
use crate::reload::{Outcome, Reloader};

pub use events::EventsApi;
pub use failure::{AdminError, AdminFailure, AdminResult, ErrorBody};
pub use guard::AdminGuard;
pub use queue::QueueApi;

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

/// `Authorization: Bearer <[admin] token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct AdminToken(Bearer);

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
    /// Every route: enabled, delivery mode, downstream host, in-flight, failure streak. No secrets.
    #[oai(path = "/admin/status", method = "get", tag = "Tag::Admin")]
    async fn status(
        &self,
        token: AdminToken,
        caller: &RemoteAddr,
        context: Data<&Arc<Context>>,
    ) -> AdminResult<serde_json::Value> {
        check_token(&context, &token, caller)?;
        Ok(Json(status::of(&context.live.load())))
    }

    /// Reload the config file now, as SIGHUP does.
    #[oai(path = "/admin/reload", method = "post", tag = "Tag::Admin")]
    async fn reload(
        &self,
        token: AdminToken,
        caller: &RemoteAddr,
        context: Data<&Arc<Context>>,
        reloader: Data<&Arc<Reloader>>,
    ) -> AdminResult<serde_json::Value> {
        check_token(&context, &token, caller)?;
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

/// The live token, compared in constant time (hashing first hides its
/// length); wrong ones are counted against the caller's address.
pub(super) fn check_token(
    context: &Context,
    presented: &AdminToken,
    caller: &RemoteAddr,
) -> Result<(), AdminError> {
    let snapshot = context.live.peek();
    let Some(admin) = &snapshot.config.server.admin else {
        return Err(AdminError::Off);
    };
    let client = caller.as_socket_addr().map(|addr| addr.ip());
    if context.admin_guard.is_locked_out(client) {
        return Err(AdminError::LockedOut);
    }
    let (a, b) = (
        Sha256::digest(&presented.0.token),
        Sha256::digest(admin.token.expose_secret()),
    );
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        context.admin_guard.failed(client);
        Err(AdminError::WrongToken)
    }
}
