//! The top-level endpoint: a configured route, a gateway endpoint, or 404.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get};

use super::error::WebhookError;
use super::state::State;
use super::{health, webhook};
use crate::routes::is_gateway_path;

/// Dispatches on the live route table, then on the gateway's own endpoints.
pub struct Gateway {
    state: Arc<State>,
    own: poem::endpoint::BoxEndpoint<'static>,
}

impl Gateway {
    pub fn new(state: Arc<State>) -> Self {
        let own = Route::new()
            .at("/healthz", get(health::healthz))
            .data(state.clone())
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
            return Ok(self.own.get_response(request).await);
        }
        Ok(WebhookError::NotFound.into_response())
    }
}
