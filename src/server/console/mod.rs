//! The operator console: a vanilla-JS page over the JSON admin API, served
//! wherever the admin API is, its files built into the binary.
//!
//! Plain files and no build step: the page only reads and posts JSON the
//! admin API already serves, so a framework would add a toolchain and
//! nothing a person sees. Every answer here carries a strict
//! Content-Security-Policy: no inline script or style, nothing from
//! another origin. Sessions and CSRF are in `login.rs`.

mod assets;
mod login;

use poem::http::header;
use poem::middleware::SetHeader;
use poem::{EndpointExt, Route, get, post};

/// What the browser may load and run on the console's pages.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is the console's.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// `route` with the console's pages and files added.
pub fn mount(route: Route) -> Route {
    let headers = || {
        SetHeader::new()
            .overriding(header::CONTENT_SECURITY_POLICY, CSP)
            .overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .overriding(header::REFERRER_POLICY, "no-referrer")
            .overriding(header::X_FRAME_OPTIONS, "DENY")
    };
    route
        .at("/console", get(login::page).with(headers()))
        .at(
            "/console/login",
            get(login::login_form).post(login::login).with(headers()),
        )
        .at("/console/logout", post(login::logout).with(headers()))
        .at(
            "/console/assets/console.js",
            get(assets::script).with(headers()),
        )
        .at(
            "/console/assets/console.css",
            get(assets::style).with(headers()),
        )
}
