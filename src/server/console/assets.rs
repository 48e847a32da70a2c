//! The console's files, built into the binary: no CDN, no npm at build time.

use poem::http::{StatusCode, header};
use poem::{Response, handler};

const PAGE: &str = include_str!("assets/console.html");
const LOGIN: &str = include_str!("assets/login.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// The console page for a session whose CSRF token is `csrf` (hex digits:
/// nothing to escape), which the script reads from a `<meta>` tag.
pub fn page(csrf: &str) -> Response {
    debug_assert!(csrf.bytes().all(|b| b.is_ascii_hexdigit()));
    html(StatusCode::OK, PAGE.replace("{{csrf}}", csrf))
}

/// The login form with `message` (one of ours, never the caller's text).
pub fn login(status: StatusCode, message: &'static str) -> Response {
    html(status, LOGIN.replace("{{message}}", message))
}

fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        // Pages hold a CSRF token and live data: never from a cache.
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[handler]
pub fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

#[handler]
pub fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

fn file(content_type: &str, body: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        // Revalidated each time: a new binary serves new files at the same path.
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
}
