//! Every way an admin call fails, mapped to its answer in one place.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::guard::LOCKOUT;
use crate::config::ConfigError;
use crate::events::ReadError;
use crate::queue::QueueError;
use crate::replay::ReplayError;
use crate::server::error::queue_status;

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No `[admin] token`: the admin API does not exist.
    #[error("no route at this path")]
    Off,
    /// Not the token.
    #[error("wrong admin token")]
    WrongToken,
    /// A session cookie that is not (or no longer) an open session.
    #[error("no console session; log in again")]
    NoSession,
    /// A console session's POST or DELETE without its CSRF token.
    #[error("missing or wrong X-CSRF-Token")]
    Csrf,
    /// Too many wrong tokens from this address lately.
    #[error("too many wrong admin tokens from this address; retry later")]
    LockedOut,
    /// No route has this name.
    #[error("no route named `{0}`")]
    NoRoute(String),
    /// The route has no destination of this name.
    #[error("route `{0}` has no destination named `{1}`")]
    NoDestination(String, String),
    /// No destination of the route wants the event (their filters).
    #[error("no destination of the route wants event `{0}` (their filters)")]
    Filtered(String),
    /// The event log holds no record with this id.
    #[error("no event `{0}` in the event log")]
    NoEvent(String),
    /// The record keeps no verified body (refused, or the route keeps no bodies).
    #[error("event `{0}` has no kept, verified body to replay")]
    NotReplayable(String),
    /// The event is in the queue already (replayed, not yet delivered).
    #[error("event `{0}` is in the queue already")]
    AlreadyQueued(String),
    /// A replay given both a dead letter's `id` and event log filters.
    #[error(
        "`id` names one dead letter; the filters select from the event log: give one or the other"
    )]
    IdAndFilters,
    /// The event log could not be read.
    #[error("cannot read the event log: {0}")]
    EventLog(#[from] crate::events::ReadError),
    /// The store refused or failed.
    #[error("{0}")]
    Queue(#[from] QueueError),
    /// The config file was refused; the last good config keeps serving.
    #[error("{0}")]
    Refused(#[from] ConfigError),
    /// The reload task ended without an outcome (it panicked).
    #[error("the reload did not complete")]
    ReloadLost,
}

/// An error answer of the admin API.
#[derive(Object)]
#[oai(rename = "AdminError")]
pub struct ErrorBody {
    /// Always false.
    success: bool,
    /// What went wrong.
    error: String,
}

/// The error answers of the admin API, as the spec lists them.
#[derive(ApiResponse)]
pub enum AdminFailure {
    /// Missing or wrong token, or no open console session.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A console session's POST or DELETE without its `X-CSRF-Token`.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Too many wrong tokens from this address: wait `Retry-After` seconds
    /// without calling.
    #[oai(status = 429)]
    LockedOut(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A filter is malformed, or a replay names both a dead letter and filters.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The event cannot be replayed: no kept, verified body, in the queue
    /// already, or no destination wants it.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The admin API is off (no `[admin] token`), or no route, event or dead
    /// letter has this name or id.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The config file was refused; the last good config keeps serving.
    #[oai(status = 422)]
    Refused(Json<ErrorBody>),
    /// The store or the event log failed, or the reload did not complete.
    #[oai(status = 500)]
    Failed(Json<ErrorBody>),
    /// The store or the event log is unavailable for now (Redis down); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl AdminError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Off
            | AdminError::NoRoute(_)
            | AdminError::NoDestination(..)
            | AdminError::NoEvent(_) => StatusCode::NOT_FOUND,
            AdminError::Filtered(_) => StatusCode::CONFLICT,
            AdminError::NotReplayable(_) => StatusCode::CONFLICT,
            AdminError::AlreadyQueued(_) => StatusCode::CONFLICT,
            AdminError::IdAndFilters => StatusCode::BAD_REQUEST,
            // Redis down: unavailable for now, as on webhooks and the queue's endpoints.
            AdminError::EventLog(ReadError::Redis(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::EventLog(ReadError::Sqlite(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::WrongToken | AdminError::NoSession => StatusCode::UNAUTHORIZED,
            AdminError::Csrf => StatusCode::FORBIDDEN,
            AdminError::LockedOut => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Queue(error) => queue_status(error),
            AdminError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::ReloadLost => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AdminError> for AdminFailure {
    fn from(error: AdminError) -> Self {
        let status = error.status();
        let body = Json(ErrorBody {
            success: false,
            error: error.to_string(),
        });
        match status {
            StatusCode::UNAUTHORIZED => AdminFailure::Unauthorized(body),
            StatusCode::FORBIDDEN => AdminFailure::Forbidden(body),
            StatusCode::TOO_MANY_REQUESTS => AdminFailure::LockedOut(body, LOCKOUT.as_secs()),
            StatusCode::NOT_FOUND => AdminFailure::NotFound(body),
            StatusCode::BAD_REQUEST => AdminFailure::BadRequest(body),
            StatusCode::CONFLICT => AdminFailure::Conflict(body),
            StatusCode::UNPROCESSABLE_ENTITY => AdminFailure::Refused(body),
            StatusCode::SERVICE_UNAVAILABLE => AdminFailure::Unavailable(body),
            _ => AdminFailure::Failed(body),
        }
    }
}

impl From<ReplayError> for AdminError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::NoBody(id) => AdminError::NotReplayable(id),
            // `Delivered` comes of replays by filter only, which count it.
            ReplayError::AlreadyQueued(id) | ReplayError::Delivered(id) => {
                AdminError::AlreadyQueued(id)
            }
            ReplayError::Filtered(id) => AdminError::Filtered(id),
            ReplayError::Queue(error) => AdminError::Queue(error),
            ReplayError::Log(error) => AdminError::EventLog(error),
        }
    }
}

impl From<ReplayError> for AdminFailure {
    fn from(error: ReplayError) -> Self {
        AdminError::from(error).into()
    }
}

impl From<QueueError> for AdminFailure {
    fn from(error: QueueError) -> Self {
        AdminError::from(error).into()
    }
}

/// The result of an admin endpoint.
pub type AdminResult<T> = Result<Json<T>, AdminFailure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_outage_is_503_and_a_missing_event_404_like_on_webhooks() {
        let outage = AdminError::Queue(QueueError::Redis("connection refused".into()));
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        let missing = AdminError::Queue(QueueError::NotFound("e1".into()));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let log = crate::events::RedisLogError::Unavailable(crate::redis_link::Unavailable);
        let log_outage = AdminError::EventLog(ReadError::Redis(log));
        assert_eq!(log_outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            AdminError::ReloadLost.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
