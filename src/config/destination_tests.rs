//! `[routes.NAME.destinations.*]`: what is accepted, and each refusal
//! naming the route, the destination and the field.

use std::path::Path;

use super::*;
use crate::routes::Delivery;

const FILE: &str = "config/routes.toml";

/// A route `hook` with `keys` and the given destination tables.
fn route(keys: &str, destinations: &str) -> String {
    format!(
        r#"[routes.hook]
path = "/hook"
{keys}
signature = {{ scheme = "none" }}
{destinations}
"#
    )
}

fn load(text: &str) -> Result<Config, String> {
    let vars = [("TOKEN", "t0ken-value")].into_iter().collect();
    from_text(text, Path::new(FILE), &vars).map_err(|e| e.to_string())
}

const TWO: &str = r#"
[routes.hook.destinations.agent]
url = "http://127.0.0.1:9/agent"
primary = true
filter = { "json:/event" = ["message_created", "message_updated"], "header:X-Kind" = "a" }
headers = { Authorization = "Bearer ${TOKEN}" }

[routes.hook.destinations.archive]
url = "http://127.0.0.1:9/archive"
timeout = "3s"
concurrency = 1
retry = { max_attempts = 3 }
sign = { scheme = "standard-webhooks", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
"#;

#[test]
fn a_downstream_is_one_destination_named_default_delivered_from_the_routes_own_queue() {
    let config = load(&route("downstream = \"http://127.0.0.1:9/x\"", "")).unwrap();
    let hook = config.routes.by_name("hook").unwrap();

    assert_eq!(hook.destinations.len(), 1);
    assert_eq!(hook.primary().name, "default");
    assert_eq!(hook.primary().lane, "hook");
    assert!(!hook.filtered);
    assert!(!hook.queues(hook.primary()), "a sync route calls it");
}

#[test]
fn named_destinations_take_their_own_settings_and_inherit_the_rest() {
    let config = load(&route(
        "timeout = \"4s\"\nretry = { initial_backoff = \"7s\" }",
        TWO,
    ))
    .unwrap();
    let hook = config.routes.by_name("hook").unwrap();
    let agent = hook.destination_named("agent").unwrap();
    let archive = hook.destination_named("archive").unwrap();

    assert_eq!(hook.primary().name, "agent");
    assert_eq!(agent.lane, "hook:agent");
    assert!(
        !hook.queues(agent) && hook.queues(archive),
        "the mirror is queued"
    );
    assert_eq!(agent.timeout, std::time::Duration::from_secs(4));
    assert_eq!(archive.timeout, std::time::Duration::from_secs(3));
    assert_eq!(archive.queue.concurrency, 1);
    assert_eq!(archive.queue.retry.max_attempts, 3);
    assert_eq!(
        archive.queue.retry.initial_backoff.as_secs(),
        7,
        "inherited key by key"
    );
    assert!(hook.filtered && agent.filter.is_some() && archive.filter.is_none());
    let (name, value) = &agent.headers[0];
    assert_eq!(
        (name.as_str(), value.to_str().unwrap()),
        ("authorization", "Bearer t0ken-value")
    );
    assert!(value.is_sensitive());
    assert!(archive.sign.is_some());
}

#[test]
fn a_queued_route_needs_no_primary() {
    let text = route(
        "delivery = \"queued\"",
        &TWO.replace("primary = true\n", ""),
    );
    let config = load(&text).unwrap();
    let hook = config.routes.by_name("hook").unwrap();

    assert_eq!(hook.delivery, Delivery::Queued);
    assert!(hook.destinations.iter().all(|d| hook.queues(d)));
}

/// Each broken config and a fragment of the message it must be refused with.
#[test]
fn broken_destinations_are_refused_naming_route_destination_and_field() {
    let dest = |keys: &str| {
        format!("[routes.hook.destinations.agent]\nurl = \"http://127.0.0.1:9/a\"\n{keys}\n")
    };
    let cases: Vec<(String, &str)> = vec![
        (
            route("downstream = \"http://127.0.0.1:9/x\"", &dest("")),
            "route `hook`, field `downstream`: set either `downstream` (one destination) or",
        ),
        (
            route("", ""),
            "route `hook`, field `downstream`: is missing",
        ),
        (
            route("", &dest("filter = { \"json:event\" = \"x\" }")),
            "route `hook`, field `destinations.agent.filter`: `event` is not a JSON pointer",
        ),
        (
            route("", &dest("filter = { \"body:/x\" = \"x\" }")),
            "field `destinations.agent.filter`: `body:/x` must be `header:NAME` or `json:/pointer`",
        ),
        (
            route(
                "",
                &dest("url = \"ftp://x/y\"").replacen("url = \"http://127.0.0.1:9/a\"\n", "", 1),
            ),
            "field `destinations.agent.url`: `ftp://x/y` is not an http(s) URL",
        ),
        (
            route("", &dest("headers = { Host = \"x\" }")),
            "field `destinations.agent.headers`: `Host` is set by the gateway itself",
        ),
        (
            route("", &dest("headers = { X-Hookgate-Route = \"x\" }")),
            "`X-Hookgate-Route` is set by the gateway itself",
        ),
        (
            route(
                "",
                &dest("sign = { scheme = \"standard-webhooks\", secret = \"plain\" }"),
            ),
            "field `destinations.agent.sign.secret`: must be `whsec_`",
        ),
        (
            route("", &dest("timeout = \"10m\"")),
            "field `destinations.agent.timeout`: `10m` must be above 0 and at most 5m",
        ),
        (
            route("", &dest("retry = { max_attempts = 0 }")),
            "field `destinations.agent.retry.max_attempts`: 0 must be between 1 and 100",
        ),
        (
            route("", &TWO.replace("primary = true\n", "")),
            "field `destinations`: a sync route with several destinations needs one marked `primary = true`",
        ),
        (
            route("", &TWO.replace("timeout = \"3s\"", "primary = true")),
            "field `destinations`: only one destination may be `primary`; found agent, archive",
        ),
        (
            route(
                "",
                "[routes.hook.destinations.\"a b\"]\nurl = \"http://127.0.0.1:9/a\"\n",
            ),
            "field `destinations.a b.name`: `a b` must be 1 to 64 letters",
        ),
        (
            format!(
                "{}\n[routes.\"hook:agent\"]\npath = \"/other\"\ndownstream = \"http://127.0.0.1:9/o\"\nsignature = {{ scheme = \"none\" }}\n",
                route("", &dest(""))
            ),
            "its queue `hook:agent` would be shared with route",
        ),
    ];
    for (text, expected) in cases {
        let err = load(&text).expect_err(&text);
        assert!(
            err.contains(expected),
            "expected `{expected}` in:\n{err}\nfor:\n{text}"
        );
        assert!(err.contains(FILE), "{err}");
    }
}

#[test]
fn a_refused_header_value_is_never_quoted() {
    let text = route(
        "",
        "[routes.hook.destinations.agent]\nurl = \"http://127.0.0.1:9/a\"\nheaders = { Authorization = \"Bearer s3cret\\n\" }\n",
    );

    let err = load(&text).unwrap_err();

    assert!(
        err.contains("the value of `Authorization` is not a valid header value"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
