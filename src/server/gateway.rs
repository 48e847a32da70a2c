//! The top-level endpoint: a configured route, a gateway endpoint, or 404.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::error::{WebhookError, json_response};
use super::state::State;
use super::{admin, health, webhook};
use crate::reload::Reloader;
use crate::routes::is_gateway_path;

/// Dispatches on the live route table, then on the gateway's own endpoints.
pub struct Gateway {
    state: Arc<State>,
    own: poem::endpoint::BoxEndpoint<'static>,
}

impl Gateway {
    /// The public endpoint; `admin` mounts the admin API on it too.
    pub fn new(
        state: Arc<State>,
        reloader: Arc<Reloader>,
        shutdown: CancellationToken,
        admin: bool,
    ) -> Self {
        let mut own = Route::new()
            .at("/healthz", get(health::healthz))
            .at("/readyz", get(readyz))
            .at("/metrics", get(metrics));
        if admin {
            own = own.nest_no_strip("/admin", admin::endpoints(state.clone(), reloader));
        }
        let own = own
            .data(state.clone())
            .data(shutdown)
            .map_to_response()
            .boxed();
        Self { state, own }
    }
}

impl Endpoint for Gateway {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        // One snapshot per request, kept to its end even if a reload lands meanwhile.
        let snapshot = self.state.live.load_full();
        if let Some(route) = snapshot.config.routes.by_path(request.uri().path()) {
            return Ok(webhook::handle(&self.state, &snapshot, route, request).await);
        }
        if is_gateway_path(request.uri().path()) {
            let response = self.own.get_response(request).await;
            if response.status() != StatusCode::NOT_FOUND || response.content_type().is_some() {
                return Ok(response);
            }
        }
        Ok(WebhookError::NotFound.into_response())
    }
}

/// Ready while a valid config is loaded and the gateway is not shutting down.
#[handler]
fn readyz(state: Data<&Arc<State>>, shutdown: Data<&CancellationToken>) -> Response {
    let generation = state.live.load().generation;
    if shutdown.is_cancelled() {
        let body = json!({"status": "shutting down", "config_generation": generation});
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    }
    json_response(
        StatusCode::OK,
        &json!({"status": "ready", "config_generation": generation}),
    )
}

#[handler]
fn metrics(state: Data<&Arc<State>>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.render_metrics())
}
