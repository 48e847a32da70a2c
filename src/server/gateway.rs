//! The top-level endpoint: a configured route, a gateway endpoint, or 404.

use std::sync::Arc;

use bytes::Bytes;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderValue, StatusCode, header};
use poem::middleware::CookieJarManager;
use poem::web::{Data, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use poem_openapi::{OpenApi, OpenApiService};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::api::{AdminApi, EventsApi, HistoryApi, PublicApi, QueueApi};
use super::console::{self, is_console};
use super::context::Context;
use super::error::{WebhookError, json_response};
use super::framework::{Allow, Uniform};
use super::rendered::Rendered;
use super::webhook;
use crate::forward::{Forwarder, REQUEST_ID};
use crate::live::Snapshot;
use crate::reload::Reloader;
use crate::routes::is_gateway_path;

/// Dispatches on the live route table, then on the gateway's own endpoints.
pub struct Gateway {
    worker: webhook::Worker,
    /// The gateway's own endpoints, their framework errors in its JSON shape.
    own: BoxEndpoint<'static>,
}

impl Gateway {
    /// The public endpoint; `with_admin` serves the admin API on it too.
    pub fn new(
        context: Arc<Context>,
        forwarder: Forwarder,
        reloader: Arc<Reloader>,
        shutdown: CancellationToken,
        with_admin: bool,
    ) -> Self {
        let (api, allow) = if with_admin {
            let apis = (PublicApi, AdminApi, QueueApi, EventsApi, HistoryApi);
            service(apis, "hookgate", DOCUMENTS)
        } else {
            service(PublicApi, "hookgate", DOCUMENTS)
        };
        let mut own = Route::new()
            .at("/openapi.json", get(spec_json))
            .at("/openapi.yaml", get(spec_yaml))
            .at("/docs", get(docs));
        if with_admin {
            own = console::mount(own);
        }
        let own = own
            .nest("/", api)
            // The admin API's session cookie and the console's are read from the jar.
            .with(CookieJarManager::new())
            .data(context.clone())
            .data(reloader)
            .data(shutdown);
        let own = Uniform::new(own, allow).boxed();
        let dedupe = context.dedupe_for_worker();
        let worker = webhook::Worker {
            context,
            forwarder,
            dedupe,
        };
        Self { worker, own }
    }
}

/// The documents served beside the API (GET only).
const DOCUMENTS: &[&str] = &["/openapi.json", "/openapi.yaml", "/docs"];

/// `apis` as an endpoint, and the methods each of its paths (and of
/// `documents`, served beside it) takes.
fn service<T: OpenApi + 'static>(
    apis: T,
    title: &str,
    documents: &[&str],
) -> (BoxEndpoint<'static>, Allow) {
    let service = OpenApiService::new(apis, title, env!("CARGO_PKG_VERSION"));
    let allow = Allow::from_spec(&service.spec(), documents);
    (service.boxed(), allow)
}

/// The admin API alone, for `[admin] listen`.
pub fn admin_only(context: Arc<Context>, reloader: Arc<Reloader>) -> impl Endpoint {
    let apis = (AdminApi, QueueApi, EventsApi, HistoryApi);
    let (api, allow) = service(apis, "hookgate admin", &[]);
    let live = context.live.clone();
    let admin = console::mount(Route::new())
        .nest("/", api)
        .with(CookieJarManager::new())
        .data(context)
        .data(reloader);
    Uniform::new(admin, allow).around(move |endpoint, request| {
        // No token: the admin API (and so the console) does not exist, whatever is presented.
        let off = live.peek().config.server.admin.is_none();
        async move {
            if off {
                return Ok(WebhookError::NotFound.into_response());
            }
            endpoint.call(request).await
        }
    })
}

impl Endpoint for Gateway {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        // One snapshot per request, kept to its end even if a reload lands meanwhile.
        let snapshot = self.worker.context.live.load();
        if let Some(route) = snapshot.by_path(request.uri().path()) {
            return Ok(webhook::handle(&self.worker, &snapshot, route, request).await);
        }
        let request_id = webhook::request_id(request.headers());
        let mut response = self.own_endpoint(&snapshot, request).await;
        response
            .headers_mut()
            .insert(REQUEST_ID.clone(), request_id);
        Ok(response)
    }
}

impl Gateway {
    /// The gateway's own endpoints, or 404.
    async fn own_endpoint(&self, snapshot: &Snapshot, request: Request) -> Response {
        let admin_off = snapshot.config.server.admin.is_none();
        let path = request.uri().path();
        if admin_off && (path.starts_with("/admin/") || is_console(path)) {
            // No token: the admin API does not exist, whatever is presented.
            return WebhookError::NotFound.into_response();
        }
        if is_gateway_path(path) {
            return self.own.get_response(request).await;
        }
        WebhookError::NotFound.into_response()
    }
}

/// A public document of the live generation (rendered once per
/// generation), or `429` past the caller's rate.
fn document(
    context: &Context,
    caller: &RemoteAddr,
    content_type: &str,
    pick: impl Fn(&Rendered) -> &Bytes,
) -> Response {
    let client = caller.as_socket_addr().map(|addr| addr.ip());
    if !context.documents_rate.admit(client) {
        let mut answer = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"success": false, "error": "too many requests for the documents; retry later"}),
        );
        let retry = HeaderValue::from_static("1");
        answer.headers_mut().insert(header::RETRY_AFTER, retry);
        return answer;
    }
    let rendered = context.rendered.get(&context.live.peek());
    Response::builder()
        .content_type(content_type)
        .body(pick(&rendered).clone())
}

#[handler]
fn spec_json(context: Data<&Arc<Context>>, caller: &RemoteAddr) -> Response {
    document(&context, caller, "application/json", |r| &r.json)
}

#[handler]
fn spec_yaml(context: Data<&Arc<Context>>, caller: &RemoteAddr) -> Response {
    document(&context, caller, "application/yaml", |r| &r.yaml)
}

/// The docs UI of the live spec.
#[handler]
fn docs(context: Data<&Arc<Context>>, caller: &RemoteAddr) -> Response {
    document(&context, caller, "text/html; charset=utf-8", |r| &r.docs)
}
