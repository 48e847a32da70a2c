//! Who may call the admin API: the bearer token, or a console session
//! (cookie) whose POST and DELETE carry its CSRF token.
//!
//! Wrong tokens count toward the caller's lockout ([`AdminGuard`]), which
//! an open session is not subject to. An unknown session cookie does not
//! count: it is what an expired session looks like, and a page polling
//! every two seconds would lock its operator out. Its id (244 random bits)
//! is no more guessable for that.

use std::sync::Arc;

use poem::Request;
use poem::http::Method;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AdminError;
use super::session::{CSRF_HEADER, Session};
use crate::server::context::Context;

/// `Authorization: Bearer <[admin] token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct AdminToken(Bearer);

/// The console's session cookie (`POST /console/login`); a POST or DELETE
/// with it must carry the session's `X-CSRF-Token`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "hookgate_session", key_in = "cookie")]
pub struct ConsoleSession(ApiKey);

/// Either way in.
#[derive(SecurityScheme)]
pub enum AdminAuth {
    /// The bearer token.
    Token(AdminToken),
    /// A console session.
    Session(ConsoleSession),
}

/// Admits `request`, or says why not.
pub(crate) fn check(
    context: &Context,
    auth: &AdminAuth,
    request: &Request,
) -> Result<(), AdminError> {
    match auth {
        AdminAuth::Token(token) => token_matches(context, &token.0.token, request),
        AdminAuth::Session(cookie) => {
            let session = session_of(context, &cookie.0.key)?;
            check_csrf(&session, request)
        }
    }
}

/// `presented` is the live token; a wrong one is counted against the caller.
pub(crate) fn token_matches(
    context: &Context,
    presented: &str,
    request: &Request,
) -> Result<(), AdminError> {
    let snapshot = context.live.peek();
    let Some(admin) = &snapshot.config.server.admin else {
        return Err(AdminError::Off);
    };
    let client = client_ip(request);
    // Hashing first hides the token's length from the comparison's timing.
    let (a, b) = (
        Sha256::digest(presented),
        Sha256::digest(admin.token.expose_secret()),
    );
    let matches = bool::from(a.ct_eq(&b));
    let locked_out = context.admin_guard.is_locked_out(client);
    // Every wrong token counts, during a lockout too (which it prolongs).
    if !matches {
        context.admin_guard.failed(client);
    }
    // Locked out, the right token is refused as well: the answer tells a guess nothing.
    match (locked_out, matches) {
        (true, _) => Err(AdminError::LockedOut),
        (false, true) => Ok(()),
        (false, false) => Err(AdminError::WrongToken),
    }
}

/// The open session with id `id`, opened with the live token.
pub(crate) fn session_of(context: &Context, id: &str) -> Result<Arc<Session>, AdminError> {
    let snapshot = context.live.peek();
    let Some(admin) = &snapshot.config.server.admin else {
        return Err(AdminError::Off);
    };
    // Not subject to the lockout, which stops guesses of the token: an
    // open session proved it when it logged in, and its id (244 random
    // bits) is no guess either. Behind an SSH tunnel every operator is
    // 127.0.0.1: another's wrong tokens must not lock an open console out.
    let session = context.sessions.get(id).ok_or(AdminError::NoSession)?;
    if !session.opened_with(admin.token.expose_secret().as_bytes()) {
        context.sessions.close(id);
        return Err(AdminError::NoSession);
    }
    Ok(session)
}

/// A request that changes state must prove it comes from the console's own
/// page: a cross-site form or script cannot read the token in its `<meta>`.
fn check_csrf(session: &Session, request: &Request) -> Result<(), AdminError> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    let presented = request.headers().get(CSRF_HEADER);
    let presented = presented.and_then(|v| v.to_str().ok()).unwrap_or_default();
    if session.csrf_matches(presented) {
        Ok(())
    } else {
        Err(AdminError::Csrf)
    }
}

fn client_ip(request: &Request) -> Option<std::net::IpAddr> {
    request.remote_addr().as_socket_addr().map(|addr| addr.ip())
}
