//! The token-guarded admin API: `GET /admin/status`, `POST /admin/reload`.
//!
//! Off unless `[admin] token` is set. The token is read from the live
//! snapshot on each request, so rotating it is a reload like any other edit.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::json_response;
use super::state::State;
use crate::reload::{Outcome, Reloader};

/// The admin endpoints behind the bearer-token check.
pub fn endpoints(state: Arc<State>, reloader: Arc<Reloader>) -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/admin/status", get(status))
        .at("/admin/reload", post(reload))
        .data(reloader)
        .around(|endpoint, request| async move { guarded(endpoint, request).await })
        .data(state)
        .map_to_response()
}

async fn guarded<E: Endpoint>(endpoint: Arc<E>, request: Request) -> poem::Result<Response> {
    let state = request
        .data::<Arc<State>>()
        .expect("state is attached")
        .clone();
    let snapshot = state.live.load();
    let Some(admin) = &snapshot.config.server.admin else {
        let body = json!({"success": false, "error": "no route at this path"});
        return Ok(json_response(StatusCode::NOT_FOUND, &body));
    };
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_token(presented, &admin.token) {
        let body = json!({"success": false, "error": "missing or wrong admin token"});
        let mut response = json_response(StatusCode::UNAUTHORIZED, &body);
        response
            .headers_mut()
            .insert("www-authenticate", "Bearer".parse().expect("static"));
        return Ok(response);
    }
    Ok(endpoint.call(request).await?.into_response())
}

/// Constant-time comparison; hashing first hides the token's length too.
fn same_token(presented: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(presented), Sha256::digest(expected));
    bool::from(a.ct_eq(&b))
}

#[handler]
fn status(state: Data<&Arc<State>>) -> Response {
    let snapshot = state.live.load();
    let routes: Vec<Value> = snapshot
        .config
        .routes
        .iter()
        .map(|route| {
            let stats = &snapshot.stats[&route.name];
            let streak = stats.streak.lock().map(|s| s.clone()).unwrap_or_default();
            json!({
                "name": route.name,
                "path": route.path,
                "enabled": route.enabled,
                "delivery": "sync",
                "scheme": route.verifier.scheme(),
                "downstream_host": route.downstream.host_str(),
                "in_flight": stats.in_flight.get(),
                "max_in_flight": route.max_in_flight,
                "failing_for_secs": streak.failing_for().as_secs(),
                "streak": streak,
            })
        })
        .collect();
    let body = json!({
        "config_generation": snapshot.generation,
        "config_hash": snapshot.config.content_hash,
        "routes": routes,
    });
    json_response(StatusCode::OK, &body)
}

#[handler]
async fn reload(reloader: Data<&Arc<Reloader>>) -> Response {
    let reloader = reloader.clone();
    let outcome = tokio::task::spawn_blocking(move || reloader.reload(true)).await;
    match outcome {
        Ok(Ok(Outcome::Applied { generation, hash })) => json_response(
            StatusCode::OK,
            &json!({"success": true, "config_generation": generation, "config_hash": hash}),
        ),
        Ok(Ok(Outcome::Unchanged)) => json_response(StatusCode::OK, &json!({"success": true})),
        Ok(Err(refused)) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"success": false, "error": refused.to_string()}),
        ),
        Err(_) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"success": false, "error": "reload failed"}),
        ),
    }
}
