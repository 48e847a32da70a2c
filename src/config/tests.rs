//! Config tables: what is accepted, and every refusal with its message.

use std::path::Path;

use super::*;
use crate::routes::Delivery;

const FILE: &str = "config/routes.toml";

fn env() -> Vars {
    [
        ("SECRET", "s3cret"),
        ("AGENT", "http://agent.internal:9000"),
    ]
    .into_iter()
    .collect()
}

fn load_str(text: &str) -> Result<Config, String> {
    from_text(text, Path::new(FILE), &env()).map_err(|e| e.to_string())
}

fn route(extra: &str) -> String {
    format!(
        r#"[routes.hook]
path = "/hook"
downstream = "http://127.0.0.1:9/x"
{extra}
[routes.hook.signature]
scheme = "chatwoot"
secret = "${{SECRET}}"
"#
    )
}

#[test]
fn the_shipped_config_is_valid_when_its_secret_is_set() {
    let text = std::fs::read_to_string("config/routes.toml").unwrap();
    let vars = [("CHATWOOT_WEBHOOK_SECRET", "x")].into_iter().collect();
    let config = from_text(&text, Path::new(FILE), &vars).unwrap();
    let chatwoot = config.routes.by_name("chatwoot").unwrap();
    assert_eq!(chatwoot.path, "/api/webhooks/chatwoot");
    assert_eq!(
        chatwoot.primary().url.as_str(),
        "https://hotdash-agent-service.fly.dev/webhooks/chatwoot"
    );
    assert_eq!(
        chatwoot.primary().timeout,
        std::time::Duration::from_secs(4)
    );
}

/// The standard route with its `chatwoot` scheme swapped for `scheme`.
fn with_scheme(scheme: &str) -> String {
    route("").replace("scheme = \"chatwoot\"", &format!("scheme = \"{scheme}\""))
}

#[test]
fn every_scheme_is_built_from_its_table_under_its_own_name() {
    let schemes = [
        "chatwoot",
        "github",
        "shopify",
        "stripe",
        "slack",
        "standard-webhooks",
    ];
    for scheme in schemes {
        let config = load_str(&with_scheme(scheme)).unwrap_or_else(|e| panic!("{scheme}: {e}"));
        let verifier = &config.routes.by_name("hook").unwrap().verifier;
        assert_eq!(verifier.scheme(), scheme);
        assert!(verifier.has_secret(), "{scheme}");
    }
}

#[test]
fn a_default_is_used_only_when_its_variable_is_unset() {
    let text = route("").replace("http://127.0.0.1:9/x", "${AGENT:-http://fallback}/hook");
    let config = load_str(&text).unwrap();
    let hook = config.routes.by_name("hook").unwrap();
    assert_eq!(
        hook.primary().url.as_str(),
        "http://agent.internal:9000/hook"
    );

    let text = route("").replace("http://127.0.0.1:9/x", "${NOPE:-http://fallback}/hook");
    let config = load_str(&text).unwrap();
    let hook = config.routes.by_name("hook").unwrap();
    assert_eq!(hook.primary().url.as_str(), "http://fallback/hook");
}

#[test]
fn defaults_fill_what_a_route_leaves_out() {
    let config = load_str(&route("")).unwrap();
    assert_eq!(config.server.environment, Environment::Production);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    let hook = config.routes.by_name("hook").unwrap();
    assert!(hook.enabled);
    assert_eq!(hook.max_body_bytes, 1024 * 1024);
}

#[test]
fn a_route_redacts_its_list_its_scheme_s_signature_and_credentials_but_not_the_delivery_id() {
    let text = route("").replace(
        "[routes.hook.signature]",
        "[routes.hook.log]\nredact_headers = [\"X-Api-Key\"]\n[routes.hook.signature]",
    );
    let config = load_str(&text).unwrap();
    let redacted = &config.routes.by_name("hook").unwrap().log.redacted;
    let names: Vec<&str> = redacted.iter().map(|h| h.as_str()).collect();
    for secret in [
        "x-api-key",
        "x-chatwoot-signature",
        "x-chatwoot-timestamp",
        "authorization",
        "cookie",
    ] {
        assert!(names.contains(&secret), "{secret} in {names:?}");
    }
    assert!(!names.contains(&"x-chatwoot-delivery"), "{names:?}");
}

#[test]
fn a_github_route_redacts_the_legacy_sha1_signature_too() {
    let config = load_str(&with_scheme("github")).unwrap();
    let redacted = &config.routes.by_name("hook").unwrap().log.redacted;
    let names: Vec<&str> = redacted.iter().map(|h| h.as_str()).collect();
    assert!(names.contains(&"x-hub-signature-256"), "{names:?}");
    assert!(names.contains(&"x-hub-signature"), "{names:?}");
    assert!(!names.contains(&"x-github-delivery"), "{names:?}");
}

#[test]
fn a_route_delivers_in_sync_unless_it_says_queued() {
    let config = load_str(&route("")).unwrap();
    let hook = config.routes.by_name("hook").unwrap();
    assert_eq!(hook.delivery, Delivery::Sync);
    assert_eq!(config.server.store.path, Path::new("data/hookgate.db"));
}

#[test]
fn a_queued_route_takes_its_delivery_keys_and_defaults_the_rest() {
    let text = format!(
        "[store]\npath = \"/var/lib/hookgate/q.db\"\n{}",
        route(
            "delivery = \"queued\"\nconcurrency = 2\nretention = \"1h\"\nretry = { max_attempts = 5, initial_backoff = \"1s\" }"
        )
    );
    let config = load_str(&text).unwrap();
    let hook = config.routes.by_name("hook").unwrap();
    let minutes = |m: u64| std::time::Duration::from_secs(60 * m);

    assert_eq!(hook.delivery, Delivery::Queued);
    assert_eq!(hook.queue.concurrency, 2);
    assert_eq!(hook.queue.retention, Some(minutes(60)));
    assert_eq!(hook.queue.max_queued, 100_000);
    assert_eq!(hook.queue.retry.max_attempts, 5);
    assert_eq!(
        hook.queue.retry.initial_backoff,
        std::time::Duration::from_secs(1)
    );
    assert_eq!(hook.queue.retry.max_backoff, minutes(600));
    assert_eq!(
        config.server.store.path,
        Path::new("/var/lib/hookgate/q.db")
    );
}

#[test]
fn a_missing_secret_is_allowed_only_in_development() {
    let text = route("").replace("${SECRET}", "${UNSET_SECRET}");
    let err = load_str(&text).unwrap_err();
    assert!(err.contains("UNSET_SECRET"), "{err}");

    let dev = format!("[server]\nenvironment = \"development\"\n{text}");
    let config = load_str(&dev).unwrap();
    assert!(!config.routes.by_name("hook").unwrap().verifier.has_secret());
}

/// Each broken config and a fragment of the message it must be refused with.
#[test]
fn broken_configs_are_refused_naming_file_route_and_field() {
    let cases: Vec<(String, &str)> = vec![
        (
            route("dedupe = { key = \"id\" }"),
            "route `hook`, field `dedupe.key`: `id` must be `header:NAME` or `json:/pointer`",
        ),
        (
            route("dedupe = { key = \"json:/id\", ttl = \"90d\" }"),
            "route `hook`, field `dedupe.ttl`: `90d` must be above 0 and at most",
        ),
        (
            route("dedupe = { key = [] }"),
            "field `dedupe.key`: needs at least one part",
        ),
        (
            format!("{}\n[store]\nbackend = \"redis\"\n", route("")),
            "field `store.url`: a redis:// URL is required",
        ),
        (
            route("").replace("\"/hook\"", "\"hook\""),
            "route `hook`, field `path`: `hook` must start with `/`",
        ),
        (
            route("").replace("\"/hook\"", "\"/healthz\""),
            "field `path`: `/healthz` is one of the gateway's own endpoints",
        ),
        (
            route("").replace("http://127.0.0.1:9/x", "ftp://x/y"),
            "field `downstream`: `ftp://x/y` is not an http(s) URL",
        ),
        (
            route("").replace("http://127.0.0.1:9/x", "not a url"),
            "field `downstream`: `not a url` is not a URL",
        ),
        (
            route("timeout = \"0s\""),
            "field `timeout`: `0s` must be above 0",
        ),
        (
            route("timeout = \"2days\""),
            "field `timeout`: `2days` must be above 0 and at most 5m",
        ),
        (
            route("timeout = \"soon\""),
            "field `timeout`: `soon` is not a duration",
        ),
        (
            route("max_body_bytes = 0"),
            "field `max_body_bytes`: 0 must be between",
        ),
        (
            route("colour = \"blue\""),
            "field `colour`: unknown field: found `colour`",
        ),
        (
            route("").replace("chatwoot", "rot13"),
            "field `signature.scheme`: unknown variant: found `rot13`",
        ),
        (
            route("").replace("${SECRET}", "${NOT_SET}"),
            "route `hook`, field `signature.secret`: environment variable `NOT_SET` is not set",
        ),
        (
            route("").replace("secret = \"${SECRET}\"", ""),
            "field `signature.secret`: a secret is required in production",
        ),
        (
            route("").replace("secret = \"${SECRET}\"", "secret = \"\""),
            "a secret must not be empty",
        ),
        (
            route("").replace(
                "secret = \"${SECRET}\"",
                "secrets = [\"a\"]\nsecret = \"b\"",
            ),
            "set only one of `secret`, `secrets` or `secret_file`",
        ),
        (
            route("").replace(
                "scheme = \"chatwoot\"",
                "scheme = \"chatwoot\"\ntolerance = \"3h\"",
            ),
            "field `signature.tolerance`: `3h` must be between 1s and 1h",
        ),
        (
            with_scheme("standard-webhooks").replace("${SECRET}", "whsec_not*base64"),
            "route `hook`, field `signature.secret`: the part after `whsec_` is not valid base64",
        ),
        (
            with_scheme("standard-webhooks").replace(
                "secret = \"${SECRET}\"",
                "secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", \"whsec_%%\"]",
            ),
            "field `signature.secrets`: the part after `whsec_` is not valid base64",
        ),
        (
            with_scheme("standard-webhooks").replace("${SECRET}", "whsec_YW5vdGhlciBrZXk="),
            "field `signature.secret`: the part after `whsec_` decodes to 11 bytes; at least 24",
        ),
        (
            with_scheme("github").replace("secret = \"${SECRET}\"", "secret = \"\""),
            "field `signature.secret`: a secret must not be empty",
        ),
        (
            with_scheme("shopify").replace("secret = \"${SECRET}\"", "tolerance = \"5m\""),
            "unknown field: found `tolerance`",
        ),
        (
            format!("[server]\nlisten = \"everywhere\"\n{}", route("")),
            "field `server.listen`: `everywhere` is not an ip:port address",
        ),
        (
            format!("[server]\nenvironment = \"staging\"\n{}", route("")),
            "field `server.environment`: unknown variant: found `staging`",
        ),
        (
            format!(
                "{}\n{}",
                route(""),
                route("").replace("routes.hook", "routes.copy")
            ),
            "route `hook`, field `path`: `/hook` is already the path of route `copy`",
        ),
        ("[routes.a\npath = 1".to_string(), FILE),
        (
            route("delivery = \"later\""),
            "field `delivery`: unknown variant: found `later`",
        ),
        (
            route("concurrency = 0"),
            "route `hook`, field `concurrency`: 0 must be between 1 and 256",
        ),
        (
            route("concurrency = 1000"),
            "field `concurrency`: 1000 must be between 1 and 256",
        ),
        (
            route("max_queued = 0"),
            "route `hook`, field `max_queued`: 0 must be between 1 and",
        ),
        (
            route("retention = \"forever\""),
            "route `hook`, field `retention`: `forever` is not a duration",
        ),
        (
            route("retention = \"90days\""),
            "field `retention`: `90days` must be above 0 and at most 30days",
        ),
        (
            route("retry = { max_attempts = 0 }"),
            "route `hook`, field `retry.max_attempts`: 0 must be between 1 and 100",
        ),
        (
            route("retry = { initial_backoff = \"0s\" }"),
            "field `retry.initial_backoff`: `0s` must be above 0",
        ),
        (
            route("retry = { max_backoff = \"2days\" }"),
            "field `retry.max_backoff`: `2days` must be above 0 and at most 1day",
        ),
        (
            route("retry = { initial_backoff = \"10s\", max_backoff = \"1s\" }"),
            "route `hook`, field `retry.max_backoff`: `1s` is below retry.initial_backoff `10s`",
        ),
        (
            route("retry = { tries = 3 }"),
            "unknown field: found `tries`",
        ),
        (
            format!("[store]\npath = \"\"\n{}", route("")),
            "field `store.path`: must not be empty",
        ),
        (
            format!("[store]\ndir = \"data\"\n{}", route("")),
            "unknown field: found `dir`",
        ),
        (
            format!(
                "{}\n[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1\"\n\
                 visibility_timeout = \"5s\"\n",
                route("timeout = \"5s\"")
            ),
            "route `hook`, field `timeout`: `5s` must be below store.visibility_timeout `5s`",
        ),
        (
            format!("[store]\nvisibility_timeout = \"0s\"\n{}", route("")),
            "field `store.visibility_timeout`: `0s` must be above 0",
        ),
        (
            format!("[store]\nlog_max_bytes = 4096\n{}", route("")),
            "field `store.log_max_bytes`: 4096 is below 1048576 (1 MiB)",
        ),
    ];
    for (text, expected) in cases {
        let err = load_str(&text).expect_err(&text);
        assert!(err.starts_with(FILE), "no file in: {err}");
        assert!(
            err.contains(expected),
            "expected `{expected}` in:\n{err}\nfor:\n{text}"
        );
    }
}

#[test]
fn a_refused_downstream_is_quoted_without_credentials_or_query() {
    let url = "ftp://user:pw@x/y?token=t0k";
    let err = load_str(&route("").replace("http://127.0.0.1:9/x", url)).unwrap_err();
    assert!(
        err.contains("`ftp://***@x/y` is not an http(s) URL"),
        "{err}"
    );
    assert!(!err.contains("pw") && !err.contains("t0k"), "{err}");
}

#[test]
fn a_downstream_with_credentials_is_refused_without_quoting_them() {
    let url = "https://agent:pa55word@agent.internal/hook";
    let err = load_str(&route("").replace("http://127.0.0.1:9/x", url)).unwrap_err();
    assert!(
        err.contains("`https://***@agent.internal/hook` carries credentials"),
        "{err}"
    );
    assert!(
        !err.contains("pa55word") && !err.contains("agent:"),
        "{err}"
    );
}

#[test]
fn a_downstream_without_a_scheme_is_refused_without_quoting_its_credentials() {
    let url = "agent:pa55word@agent.internal/hook?token=t0k";
    let err = load_str(&route("").replace("http://127.0.0.1:9/x", url)).unwrap_err();
    assert!(
        err.contains("`***@agent.internal/hook` is not an http(s) URL"),
        "{err}"
    );
    assert!(!err.contains("pa55word") && !err.contains("t0k"), "{err}");
}

#[test]
fn a_secret_of_the_wrong_type_is_refused_without_quoting_it() {
    let text = route("").replace("secret = \"${SECRET}\"", "secrets = \"${SECRET}\"");
    let err = load_str(&text).unwrap_err();
    assert!(
        err.contains("invalid type: found a string, expected a sequence"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = route("timeout = \"0s\"")
        .replace("\"/hook\"", "\"hook\"")
        .replace("http://127.0.0.1:9/x", "ftp://x");
    let err = load_str(&text).unwrap_err();
    for field in ["`path`", "`downstream`", "`timeout`"] {
        assert!(err.contains(field), "{field} missing in:\n{err}");
    }
}

#[test]
fn an_admin_token_with_an_unclosed_reference_is_refused_not_served_literally() {
    let text = format!("{}\n[admin]\ntoken = \"${{ADMIN_TOKEN\"\n", route(""));
    let err = load_str(&text).unwrap_err();
    assert!(err.contains("field `admin.token`"), "{err}");
    assert!(err.contains("`${` without its closing `}`"), "{err}");
}

#[test]
fn an_admin_token_shorter_than_16_characters_is_refused() {
    let with = |token: &str| format!("{}\n[admin]\ntoken = \"{token}\"\n", route(""));
    let err = load_str(&with("short-token")).unwrap_err();
    assert!(
        err.contains("field `admin.token`: must be at least 16"),
        "{err}"
    );
    assert!(!err.contains("short-token"), "{err}");
    let config = load_str(&with("a-token-of-16-ch")).unwrap();
    assert!(config.server.admin.is_some());
    assert!(load_str(&with("")).unwrap().server.admin.is_none());
}

#[test]
fn a_syntax_error_names_line_and_column_without_quoting_the_line() {
    for text in [
        "[admin]\ntoken = \"super-secret-token-value\n",
        "[admin]\ntoken = super-secret-token-value\n",
    ] {
        let err = load_str(text).unwrap_err();
        assert!(err.contains("line 2, column"), "{err}");
        assert!(err.contains("invalid"), "{err}");
        assert!(!err.contains("super-secret"), "{err}");
    }
}

#[test]
fn without_admin_listen_the_admin_api_is_served_on_loopback_9180_not_the_public_listener() {
    let config = load_str(&route("")).unwrap();
    assert_eq!(
        config.server.admin_listen,
        super::AdminListen::Own("127.0.0.1:9180".parse().unwrap())
    );
    let with = |listen: &str| format!("{}\n[admin]\nlisten = \"{listen}\"\n", route(""));
    let public = load_str(&with("public")).unwrap();
    assert_eq!(public.server.admin_listen, super::AdminListen::Public);
    let err = load_str(&with("everywhere")).unwrap_err();
    assert!(
        err.contains(&format!(
            "{FILE}: field `admin.listen`: `everywhere` is neither"
        )),
        "{err}"
    );
}
