//! Logging in and out of the console, and the page itself.
//!
//! Logging in trades the admin token for a session: a random id in an
//! `HttpOnly; SameSite=Strict` cookie (`Secure` when the client spoke
//! https), so no script on the page ever holds the token. A wrong token
//! counts toward the caller's lockout like a wrong bearer token.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::cookie::{Cookie, CookieJar, SameSite};
use poem::web::{Data, Form, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::assets;
use crate::server::api::session::COOKIE;
use crate::server::api::{AdminError, LOCKOUT, Session, session_of, token_matches};
use crate::server::client;
use crate::server::context::Context;

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// The logout form's fields.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// The console for a session; the login form otherwise.
#[handler]
pub fn page(jar: &CookieJar, context: Data<&Arc<Context>>) -> Response {
    match session(&context, jar) {
        Some(session) => assets::page(&session.csrf),
        None => to_login(),
    }
}

/// The login form.
#[handler]
pub fn login_form() -> Response {
    assets::login(StatusCode::OK, "")
}

/// Opens a session for the right token; shows the form again otherwise.
#[handler]
pub fn login(
    request: &Request,
    jar: &CookieJar,
    context: Data<&Arc<Context>>,
    Form(given): Form<LoginForm>,
) -> Response {
    match token_matches(&context, &given.token, request) {
        Ok(()) => {
            let (id, _) = context.sessions.open(given.token.as_bytes());
            jar.add(session_cookie(&context, request, id));
            Redirect::see_other("/console").into_response()
        }
        Err(AdminError::LockedOut) => {
            let message = "Too many wrong tokens from this address: wait a minute.";
            let mut answer = assets::login(StatusCode::TOO_MANY_REQUESTS, message);
            let retry = HeaderValue::from(LOCKOUT.as_secs());
            answer.headers_mut().insert(header::RETRY_AFTER, retry);
            answer
        }
        Err(_) => assets::login(StatusCode::UNAUTHORIZED, "Wrong token."),
    }
}

/// Ends the session; the form's `csrf` proves the console's page asked.
#[handler]
pub fn logout(
    jar: &CookieJar,
    context: Data<&Arc<Context>>,
    Form(given): Form<LogoutForm>,
) -> Response {
    let Some(session) = session(&context, jar) else {
        return to_login();
    };
    if !session.csrf_matches(&given.csrf) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    if let Some(cookie) = jar.get(COOKIE) {
        context.sessions.close(cookie.value_str());
    }
    let mut gone = Cookie::named(COOKIE);
    gone.set_path("/");
    gone.make_removal();
    jar.add(gone);
    to_login()
}

/// The open session the request's cookie names, if any.
fn session(context: &Context, jar: &CookieJar) -> Option<Arc<Session>> {
    let cookie = jar.get(COOKIE)?;
    session_of(context, cookie.value_str()).ok()
}

fn to_login() -> Response {
    Redirect::see_other("/console/login").into_response()
}

/// The session cookie: sent back only to this origin's own pages, never
/// readable by a script; `Secure` when the client reached us over https.
fn session_cookie(context: &Context, request: &Request, id: String) -> Cookie {
    let snapshot = context.live.peek();
    let https = client::of(request, &snapshot.config.server.trusted_proxies).https;
    let mut cookie = Cookie::new_with_str(COOKIE, id);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_secure(https);
    cookie
}
