//! The OpenAPI document: the gateway's own endpoints (poem-openapi) plus one
//! path item per configured route, generated from the live route table.
//!
//! poem-openapi cannot add paths at run time, so its static document is
//! taken as JSON and the routes are added to it.

use poem_openapi::OpenApiService;
use serde_json::{Map, Value, json};

use super::api::{AdminApi, EventsApi, HistoryApi, PublicApi, QueueApi};
use crate::routes::{Delivery, Route, RouteTable};
use crate::signature::Verifier;

/// The service describing the gateway's own endpoints.
pub fn own_service() -> OpenApiService<(PublicApi, AdminApi, QueueApi, EventsApi, HistoryApi), ()> {
    let api = (PublicApi, AdminApi, QueueApi, EventsApi, HistoryApi);
    OpenApiService::new(api, "hookgate", env!("CARGO_PKG_VERSION")).description(
        "Inbound webhook gateway: each route verifies the source's signature over the raw bytes \
         and forwards them unchanged to its downstream.",
    )
}

/// The whole document for `routes`. It names no secret and no downstream URL.
pub fn document(routes: &RouteTable) -> Value {
    let spec = own_service().spec();
    let mut document: Value = serde_json::from_str(&spec).expect("poem-openapi writes JSON");
    let paths = document["paths"]
        .as_object_mut()
        .expect("the spec has paths");
    for route in routes.iter() {
        paths.insert(route.path.clone(), json!({ "post": operation(route) }));
    }
    let schemas = &mut document["components"]["schemas"];
    if !schemas.is_object() {
        *schemas = Value::Object(Map::new());
    }
    schemas["WebhookProcessed"] = json!({
        "type": "object",
        "required": ["success", "processed"],
        "properties": {
            "success": {"type": "boolean"},
            "processed": {"type": "boolean", "description": "false for a duplicate or a filtered event"},
            "duplicate": {"type": "boolean", "description": "present and true when the delivery's dedupe key was already handled; nothing was forwarded"},
            "filtered": {"type": "boolean", "description": "present and true when no destination's filter wants the event; nothing was forwarded"}
        }
    });
    schemas["WebhookQueued"] = json!({
        "type": "object",
        "required": ["success", "queued", "id"],
        "properties": {
            "success": {"type": "boolean"},
            "queued": {"type": "boolean"},
            "id": {"type": "string", "description": "The event id, sent as X-Hookgate-Event-Id on every delivery attempt"}
        }
    });
    schemas["WebhookError"] = json!({
        "type": "object",
        "required": ["success", "error"],
        "properties": {"success": {"type": "boolean"}, "error": {"type": "string"}}
    });
    document
}

/// The document as YAML.
pub fn to_yaml(document: &Value) -> String {
    serde_yaml::to_string(document).expect("JSON values serialize as YAML")
}

/// The embedded Swagger UI (no CDN) showing `document_json`, the live
/// document (the UI embeds a copy of the spec it is built with).
pub fn docs_html(document_json: &str) -> String {
    let service = own_service();
    service
        .swagger_ui_html()
        .replacen(&service.spec(), document_json, 1)
}

fn operation(route: &Route) -> Value {
    let verifier = &route.verifier;
    let headers = verifier.headers().into_iter().map(|name| (name, "header"));
    let query = verifier.query().map(|name| (name, "query"));
    // Names only: the spec never carries a value, least of all a token.
    let parameters: Vec<Value> = headers
        .chain(query)
        .map(|(name, place)| json!({"name": name, "in": place, "required": true, "schema": {"type": "string"}}))
        .collect();
    json!({
        "tags": ["Webhooks"],
        "summary": format!("Webhook route `{}`", route.name),
        "description": description(route),
        "operationId": format!("webhook_{}", route.name),
        "parameters": parameters,
        "requestBody": {
            "description": "Any content; forwarded unchanged.",
            "content": {
                "application/json": {"schema": {}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        },
        "responses": responses(route),
    })
}

fn description(route: &Route) -> String {
    let checked = match &route.verifier {
        Verifier::Token(_) => {
            "Checked against the route's shared token (`token` scheme, which signs nothing; \
             the token is not forwarded)"
                .to_string()
        }
        verifier => format!(
            "Verified with the `{}` scheme over the raw body",
            verifier.scheme()
        ),
    };
    let names: Vec<&str> = route.destinations.iter().map(|d| d.name.as_str()).collect();
    let fan_out = match names.len() {
        1 => String::new(),
        _ => format!(" Destinations: {}.", names.join(", ")),
    };
    let filtered = match route.filtered {
        true => " An event no destination's filter wants is answered 200 with `filtered: true`.",
        false => "",
    };
    let answer = match route.delivery {
        Delivery::Sync if names.len() > 1 => format!(
            "{checked}, then forwarded byte for byte to the primary destination `{}`: 200 when \
             it answered 2xx, 500 when it failed. The other destinations get a copy stored \
             durably before the answer and delivered in the background.",
            route.primary().name
        ),
        Delivery::Sync => format!(
            "{checked}, then forwarded byte for byte to the route's downstream. 200 when the \
             downstream answered 2xx, 500 when it failed."
        ),
        Delivery::Queued => format!(
            "{checked}, then stored durably and answered 202; the gateway forwards it byte for \
             byte to each of the route's destinations in the background, retrying with backoff \
             (at least once, with X-Hookgate-Event-Id)."
        ),
    };
    format!("{answer}{fan_out}{filtered}")
}

fn unauthorized(route: &Route) -> &'static str {
    match route.verifier {
        Verifier::Token(_) => "Missing, duplicated or wrong token",
        _ => "Missing, malformed or wrong signature, or a timestamp outside the tolerance",
    }
}

fn responses(route: &Route) -> Value {
    let request_id = json!({"X-Request-Id": {"schema": {"type": "string"}, "description": "The request's id, as sent or generated"}});
    let mut retry = request_id.clone();
    retry["Retry-After"] = json!({"schema": {"type": "string"}, "description": "Seconds to wait"});
    let error = |description: &str, headers: &Value| {
        json!({
            "description": description,
            "headers": headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookError"}}}
        })
    };
    let mut answers = json!({
        "400": error("The body could not be read", &request_id),
        "408": error("The body did not arrive within 10 s", &request_id),
        "401": error(unauthorized(route), &request_id),
        "404": error("No route at this path", &request_id),
        "405": error("Only POST is allowed", &request_id),
        "413": error("The body exceeds the route's limit", &request_id),
        "500": error("The downstream failed, timed out or was unreachable; retry", &request_id),
        "503": error("The route is disabled or overloaded; retry after Retry-After", &retry),
    });
    if route.allow_ips.is_some() {
        answers["403"] = error(
            "The client's address is not in the route's `allow_ips`",
            &request_id,
        );
    }
    if route.dedupe.is_some() {
        answers["200"] = json!({
            "description": "A duplicate: the delivery's dedupe key was already handled; nothing was forwarded",
            "headers": request_id,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookProcessed"}}}
        });
        answers["429"] = error(
            "A delivery with the same dedupe key is in flight; retry after Retry-After",
            &retry,
        );
    }
    let stored = json!({
        "description": "The event is stored on disk and will be delivered",
        "headers": request_id,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookQueued"}}}
    });
    let mut also = String::new();
    if route.dedupe.is_some() {
        also.push_str("; or, with `duplicate: true`, the delivery's key was already handled");
    }
    if route.filtered {
        also.push_str("; or, with `filtered: true`, no destination wants the event");
        answers["200"] = json!({
            "description": "No destination's filter wants the event: nothing was forwarded",
            "headers": request_id,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookProcessed"}}}
        });
    }
    match route.delivery {
        Delivery::Sync => {
            let description = format!("The downstream answered 2xx{also}");
            // Only mirrors want it: they got their copies, there was no call to wait for.
            if route.destinations.len() > 1 && route.primary().filter.is_some() {
                answers["202"] = stored;
            }
            answers["200"] = json!({
                "description": description,
                "headers": request_id,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookProcessed"}}}
            });
        }
        Delivery::Queued => {
            answers["202"] = stored;
            answers["500"] = error("The event could not be stored; retry", &request_id);
            answers["503"] = error(
                "The route's queue is full (max_queued) or the route is overloaded; retry after Retry-After",
                &retry,
            );
        }
    }
    answers
}
