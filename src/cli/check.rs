//! `hookgate check`: loads a config as `serve` would and says what it holds,
//! or everything wrong with it, without starting anything.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config, ConfigError, Vars};
use crate::routes::{Destination, Route};

/// `hookgate check`: the file's routes, secrets redacted, and its warnings;
/// or every problem of a file it refuses, with its warnings too.
pub(super) fn check(path: &Path) -> ExitCode {
    match config::load(path, &Vars::process()) {
        Ok(config) => {
            print_routes(path, &config);
            for warning in &config.warnings {
                eprintln!("{}: warning: {warning}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            if let ConfigError::Invalid { warnings, .. } = &error {
                for warning in warnings {
                    eprintln!("{}: warning: {warning}", path.display());
                }
            }
            ExitCode::FAILURE
        }
    }
}

fn print_routes(path: &Path, config: &Config) {
    println!(
        "{}: ok ({} routes, environment {:?}, listen {}, admin API on {})",
        path.display(),
        config.routes.len(),
        config.server.environment,
        config.server.listen,
        config.server.admin_listen
    );
    for route in config.routes.iter() {
        println!("  {}", describe(route));
        if route.destinations.len() > 1 || route.filtered {
            for destination in &route.destinations {
                println!("    {}", describe_destination(route, destination));
            }
        }
    }
}

/// A URL as `check` shows it: the query string may hold a token
/// (credentials before `@` are refused at load).
fn shown(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    if url.query().is_some() {
        url.set_query(Some("redacted"));
    }
    url
}

/// One line about a destination of a route with several, or filtered.
fn describe_destination(route: &Route, destination: &Destination) -> String {
    let role = match route.queues(destination) {
        true => "queued",
        false => "primary",
    };
    let mut facts = vec![role.to_string()];
    facts.extend(destination.filter.as_ref().map(|_| "filtered".to_string()));
    if !destination.headers.is_empty() {
        facts.push(format!(
            "{} added header(s) <redacted>",
            destination.headers.len()
        ));
    }
    facts.extend(
        destination
            .sign
            .as_ref()
            .map(|_| "signed (standard-webhooks)".to_string()),
    );
    let rate = (destination.queue.rate_limit).filter(|_| route.queues(destination));
    facts.extend(rate.map(|rate| format!("at most {rate}")));
    format!(
        "{name} -> {url} [{facts}]",
        name = destination.name,
        url = shown(&destination.url),
        facts = facts.join(", ")
    )
}

/// One line about a route, secrets redacted.
fn describe(route: &Route) -> String {
    let primary = route.primary();
    let downstream = match route.destinations.len() {
        1 => shown(&primary.url).to_string(),
        n => format!("{n} destinations"),
    };
    let state = if route.enabled { "enabled" } else { "DISABLED" };
    format!(
        "{name}: POST {path} -> {downstream} [{state}, {delivery}, scheme {scheme}, secret {secret}, timeout {timeout}, max {max} bytes]",
        name = route.name,
        delivery = route.delivery.as_str(),
        path = route.path,
        scheme = route.verifier.scheme(),
        secret = if route.verifier.has_secret() {
            "<redacted>"
        } else {
            "none"
        },
        timeout = humantime::format_duration(primary.timeout),
        max = route.max_body_bytes,
    )
}
