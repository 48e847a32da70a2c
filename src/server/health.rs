//! `GET /healthz`: the process is up and serving.

use std::sync::Arc;

use poem::handler;
use poem::web::{Data, Json};
use serde_json::{Value, json};

use super::state::State;

/// Liveness, with the config generation and hash (never a secret).
#[handler]
pub async fn healthz(state: Data<&Arc<State>>) -> Json<Value> {
    let snapshot = state.live.load();
    Json(json!({
        "status": "ok",
        "config_generation": snapshot.generation,
        "config_hash": snapshot.config.content_hash,
    }))
}
