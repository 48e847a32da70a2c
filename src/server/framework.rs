//! The framework's own errors on the gateway's endpoints (no such path, a
//! method the path does not take, a malformed parameter, no token) answered
//! in the gateway's JSON shape; an endpoint's own answers pass as they are.
//!
//! The errors are caught by their type before they become responses, and a
//! 405's `Allow` comes from the API's spec (the methods each path takes), so
//! no path is listed here.

use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use serde_json::json;

use super::error::{WebhookError, json_response};

/// The HTTP methods a path item of a spec may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The methods each path of an API takes.
#[derive(Debug, Default)]
pub struct Allow {
    /// Path templates split at `/` (`{name}` matches one segment), and
    /// their `Allow` value.
    paths: Vec<(Vec<String>, HeaderValue)>,
}

impl Allow {
    /// The paths of `spec` (OpenAPI JSON), and `get_only` paths served beside it.
    pub fn from_spec(spec: &str, get_only: &[&str]) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let items = spec["paths"].as_object().into_iter().flatten();
        let paths = (items.filter_map(|(path, item)| {
            let methods: Vec<String> = (METHODS.iter())
                .filter(|method| item.get(**method).is_some())
                .map(|method| method.to_ascii_uppercase())
                .collect();
            let allow = HeaderValue::try_from(methods.join(", ")).ok()?;
            Some((segments(path), allow))
        }))
        .chain(
            get_only
                .iter()
                .map(|path| (segments(path), HeaderValue::from_static("GET"))),
        )
        .collect();
        Self { paths }
    }

    /// The methods `path` takes; `None` when no path of the API matches.
    fn of(&self, path: &str) -> Option<&HeaderValue> {
        let given: Vec<&str> = path.split('/').collect();
        let matches = |template: &[String]| {
            template.len() == given.len()
                && (template.iter().zip(&given)).all(|(t, g)| is_parameter(t) || t == g)
        };
        self.paths
            .iter()
            .find(|(template, _)| matches(template))
            .map(|(_, allow)| allow)
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/').map(str::to_string).collect()
}

fn is_parameter(segment: &str) -> bool {
    segment.starts_with('{')
}

/// `inner`, its framework errors answered in the gateway's shape.
pub struct Uniform<E> {
    inner: E,
    allow: Allow,
}

impl<E> Uniform<E> {
    /// Wraps `inner`, whose paths take the methods `allow` lists.
    pub fn new(inner: E, allow: Allow) -> Self {
        Self { inner, allow }
    }
}

impl<E: Endpoint> Endpoint for Uniform<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        // Shares the request's bytes: only a 405 reads it.
        let uri = request.uri().clone();
        Ok(match self.inner.call(request).await {
            Ok(answer) => answer.into_response(),
            Err(error) => self.answer(error, uri.path()),
        })
    }
}

impl<E> Uniform<E> {
    fn answer(&self, error: poem::Error, path: &str) -> Response {
        let json = |status: StatusCode, error: &str| {
            json_response(status, &json!({"success": false, "error": error}))
        };
        if error.is_from_response() {
            // An endpoint's own answer (the admin API's errors), as it is.
            error.into_response()
        } else if error.is::<NotFoundError>() {
            WebhookError::NotFound.into_response()
        } else if error.is::<MethodNotAllowedError>() {
            let Some(allow) = self.allow.of(path) else {
                // Not an API path (a console page): the framework's answer.
                return error.into_response();
            };
            let only = allow.to_str().unwrap_or_default();
            let mut answer = json(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("only {only} is allowed"),
            );
            answer.headers_mut().insert(header::ALLOW, allow.clone());
            answer
        } else if error.is::<ParseParamError>()
            || error.is::<ParsePathError>()
            || error.is::<ParseRequestPayloadError>()
        {
            json(StatusCode::BAD_REQUEST, "a parameter is malformed")
        } else if error.is::<AuthorizationError>() {
            json(StatusCode::UNAUTHORIZED, "missing admin token")
        } else {
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/admin/events/{id}": {"get": {}, "parameters": []},
        "/admin/events/{id}/replay": {"post": {}},
        "/admin/routes/{name}/dead-letters": {"get": {}, "delete": {}},
        "/admin/reload": {"post": {}}
    }}"#;

    fn allow(path: &str) -> Option<String> {
        let allow = Allow::from_spec(SPEC, &["/docs"]);
        allow.of(path).map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn a_path_takes_the_methods_its_spec_item_lists_whatever_its_parameters() {
        assert_eq!(allow("/admin/events/e1").as_deref(), Some("GET"));
        assert_eq!(allow("/admin/events/e1/replay").as_deref(), Some("POST"));
        assert_eq!(
            allow("/admin/routes/hook/dead-letters").as_deref(),
            Some("GET, DELETE")
        );
        assert_eq!(allow("/docs").as_deref(), Some("GET"));
        assert_eq!(allow("/admin/events"), None);
        assert_eq!(allow("/admin/events/e1/replay/x"), None);
    }
}
