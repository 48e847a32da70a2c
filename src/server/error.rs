//! Every way a webhook request can fail, mapped to its HTTP answer in one place.

use poem::http::{StatusCode, header};
use poem::{IntoResponse, Response};
use serde_json::json;

use super::unverified::Exhausted;
use crate::forward::ForwardError;
use crate::queue::QueueError;
use crate::signature::VerifyError;

/// Seconds a source is asked to wait before retrying a disabled route.
const DISABLED_RETRY_AFTER_SECS: &str = "60";
/// An overloaded route frees up quickly; ask for a short wait.
const SHED_RETRY_AFTER_SECS: &str = "1";
/// A full queue drains at the downstream's pace; ask for a longer wait.
const QUEUE_FULL_RETRY_AFTER_SECS: &str = "30";

/// Why a webhook request was not processed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No route at this path.
    #[error("no route at this path")]
    NotFound,
    /// A route exists but only takes POST.
    #[error("only POST is allowed")]
    MethodNotAllowed,
    /// The body is over the route's limit.
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    /// The client did not send its body in time.
    #[error("the body did not arrive in time")]
    BodyTimeout,
    /// The body could not be read (the client went away, bad chunking).
    #[error("could not read the body")]
    BodyRead(#[source] std::io::Error),
    /// The client's address is not in the route's `allow_ips`.
    #[error("this address may not post to this route")]
    Forbidden,
    /// The route is switched off (`enabled = false`).
    #[error("route is disabled")]
    Disabled,
    /// The route is at `max_in_flight`: shed rather than pile up on a slow downstream.
    #[error("route is overloaded")]
    Shed,
    /// Past the budget of unverified bodies: shed before the signature is checked.
    #[error("{0}")]
    Unverified(#[from] Exhausted),
    /// A delivery with the same dedupe key is being delivered right now.
    #[error("a delivery with the same key is in flight; retry shortly")]
    DuplicateInFlight,
    /// The signature check failed.
    #[error("invalid signature: {0}")]
    Unauthorized(#[from] VerifyError),
    /// The downstream failed; the source should retry.
    #[error("downstream failed: {0}")]
    Downstream(#[from] ForwardError),
    /// A queued route could not store the event (full, or the store failed).
    #[error("{0}")]
    Queue(#[from] QueueError),
}

/// The status a queue failure is answered with, on a webhook route or the admin API.
pub fn queue_status(error: &QueueError) -> StatusCode {
    match error {
        // Redis down: refuse what cannot be stored; the source may retry.
        QueueError::Full { .. } | QueueError::Redis(_) => StatusCode::SERVICE_UNAVAILABLE,
        QueueError::NotFound(_) => StatusCode::NOT_FOUND,
        QueueError::Exists(_) => StatusCode::CONFLICT,
        // 500: what Chatwoot's agent bots retry.
        QueueError::Unavailable
        | QueueError::Open { .. }
        | QueueError::Store(_)
        | QueueError::Sync(_)
        | QueueError::UnknownState(_)
        | QueueError::ForeignTicket => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl WebhookError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookError::NotFound => StatusCode::NOT_FOUND,
            WebhookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::BodyRead(_) => StatusCode::BAD_REQUEST,
            WebhookError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            WebhookError::Forbidden => StatusCode::FORBIDDEN,
            WebhookError::Disabled | WebhookError::Shed | WebhookError::Unverified(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // 429, which Chatwoot's agent bots do retry, unlike 409.
            WebhookError::DuplicateInFlight => StatusCode::TOO_MANY_REQUESTS,
            WebhookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            // 500, not 502: Chatwoot's agent bots retry on 429 and 500 only.
            WebhookError::Downstream(_) => StatusCode::INTERNAL_SERVER_ERROR,
            WebhookError::Queue(error) => queue_status(error),
        }
    }

    /// The `outcome` label of `hookgate_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            WebhookError::NotFound => "not_found",
            WebhookError::MethodNotAllowed => "method_not_allowed",
            WebhookError::TooLarge(_) => "too_large",
            WebhookError::BodyRead(_) => "bad_request",
            WebhookError::BodyTimeout => "body_timeout",
            WebhookError::Disabled => "disabled",
            WebhookError::Forbidden => "forbidden",
            WebhookError::Shed => "shed",
            WebhookError::Unverified(_) => "shed_unverified",
            WebhookError::DuplicateInFlight => "duplicate_in_flight",
            WebhookError::Unauthorized(_) => "unauthorized",
            WebhookError::Downstream(_) => "downstream_error",
            WebhookError::Queue(QueueError::Full { .. }) => "queue_full",
            WebhookError::Queue(_) => "store_error",
        }
    }

    /// The short reason given to the caller: never a secret, an expected
    /// signature or the downstream's address.
    fn public_message(&self) -> String {
        match self {
            WebhookError::Downstream(ForwardError::Status { status, .. }) => {
                format!("downstream answered {}", status.as_u16())
            }
            WebhookError::Downstream(ForwardError::Timeout(_)) => "downstream timed out".into(),
            WebhookError::Downstream(ForwardError::Unreachable(_)) => {
                "downstream unreachable".into()
            }
            WebhookError::Queue(QueueError::Full { .. }) => "queue is full".into(),
            WebhookError::Queue(_) => "could not store the event".into(),
            other => other.to_string(),
        }
    }
}

impl WebhookError {
    /// Seconds the caller should wait before retrying, for the answers that ask it to.
    fn retry_after(&self) -> Option<&'static str> {
        match self {
            WebhookError::Disabled => Some(DISABLED_RETRY_AFTER_SECS),
            WebhookError::Shed
            | WebhookError::Unverified(_)
            | WebhookError::DuplicateInFlight
            | WebhookError::Queue(QueueError::Redis(_)) => Some(SHED_RETRY_AFTER_SECS),
            WebhookError::Queue(QueueError::Full { .. }) => Some(QUEUE_FULL_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl WebhookError {
    /// The answer, JSON, with `Retry-After` or `Allow` where they belong.
    pub fn to_response(&self) -> Response {
        let body = json!({ "success": false, "error": self.public_message() });
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after() {
            headers.insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(seconds),
            );
        }
        if matches!(self, WebhookError::MethodNotAllowed) {
            headers.insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        }
        response
    }
}

/// A response with `status` and a JSON `body` fixed at compile time.
pub fn static_json(status: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body)
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}
