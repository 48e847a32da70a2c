//! Config tables for signature keys: the generic `hmac` scheme, `token` and `secret_file`.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use poem::http::{HeaderMap, HeaderName};

use super::*;
use crate::signature::{Presented, UnverifiedBody, Verifier};

const FILE: &str = "config/routes.toml";
const BODY: &[u8] = br#"{"action":"opened"}"#;

/// One route `hook` whose `[signature]` table holds `table`.
fn route_with(table: &str) -> String {
    format!(
        "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\n\
         [routes.hook.signature]\n{table}\n"
    )
}

fn load(text: &str) -> Result<Config, String> {
    let vars = [("SECRET_DIR", "/run/secrets")].into_iter().collect();
    from_text(text, Path::new(FILE), &vars).map_err(|e| e.to_string())
}

/// The config of `text`, which must be valid; see [`hook`] for its verifier.
fn valid(text: &str) -> Config {
    load(text).unwrap_or_else(|e| panic!("{e}\nfor:\n{text}"))
}

fn hook(config: &Config) -> &Verifier {
    &config.routes.by_name("hook").unwrap().verifier
}

/// Whether `checker` accepts what `signer` signs for BODY.
fn accepts(checker: &Verifier, signer: &Verifier) -> bool {
    let now = SystemTime::now();
    let mut headers = HeaderMap::new();
    for (name, value) in signer.sign(BODY, now) {
        headers.insert(HeaderName::try_from(name).unwrap(), value.parse().unwrap());
    }
    let body = UnverifiedBody::new(BODY.to_vec().into());
    checker.verify(&headers, body, now).is_ok()
}

fn secret_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

#[test]
fn the_generic_hmac_scheme_and_its_older_name_are_built_from_their_tables() {
    let cases = [
        ("scheme = \"hmac\"\nheader = \"X-Sig\"", "hmac"),
        (
            "scheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"sha512\"",
            "hmac",
        ),
        (
            "scheme = \"hmac-sha256\"\nheader = \"X-Sig\"",
            "hmac-sha256",
        ),
    ];
    for (table, name) in cases {
        let config = valid(&route_with(&format!("{table}\nsecret = \"s\"")));
        assert_eq!(hook(&config).scheme(), name);
        assert!(hook(&config).has_secret());
    }
}

#[test]
fn hmac_sha256_is_the_same_scheme_as_hmac_with_sha256() {
    let old = valid(&route_with(
        "scheme = \"hmac-sha256\"\nheader = \"X-Sig\"\nsecret = \"s\"",
    ));
    let new = valid(&route_with(
        "scheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"sha256\"\nsecret = \"s\"",
    ));
    let sha512 = valid(&route_with(
        "scheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"sha512\"\nsecret = \"s\"",
    ));
    let (old, new, sha512) = (hook(&old), hook(&new), hook(&sha512));
    assert!(accepts(old, new) && accepts(new, old));
    assert!(!accepts(sha512, old) && !accepts(old, sha512));
}

#[test]
fn every_scheme_with_secrets_takes_a_secret_file() {
    let file = secret_file("s3cret\n");
    let path = file.path().display();
    for scheme in [
        "chatwoot",
        "github",
        "shopify",
        "stripe",
        "slack",
        "standard-webhooks",
    ] {
        let from_file = valid(&route_with(&format!(
            "scheme = \"{scheme}\"\nsecret_file = \"{path}\""
        )));
        let literal = valid(&route_with(&format!(
            "scheme = \"{scheme}\"\nsecret = \"s3cret\""
        )));
        assert!(accepts(hook(&from_file), hook(&literal)), "{scheme}");
    }
}

#[test]
fn a_secret_file_is_read_again_at_each_load() {
    let file = secret_file("first\r\n");
    let table = format!(
        "scheme = \"github\"\nsecret_file = \"{}\"",
        file.path().display()
    );
    let first = valid(&route_with("scheme = \"github\"\nsecret = \"first\""));
    let loaded = valid(&route_with(&table));
    assert!(accepts(hook(&loaded), hook(&first)));

    std::fs::write(file.path(), "second\n").unwrap();
    let reloaded = valid(&route_with(&table));
    let second = valid(&route_with("scheme = \"github\"\nsecret = \"second\""));
    assert!(accepts(hook(&reloaded), hook(&second)));
    assert!(!accepts(hook(&reloaded), hook(&first)));
}

#[test]
fn an_empty_secret_file_is_refused_naming_route_field_and_path_not_content() {
    let file = secret_file("\n");
    let path = file.path().display().to_string();
    let table = format!("scheme = \"stripe\"\nsecret_file = \"{path}\"");
    let err = load(&route_with(&table)).unwrap_err();
    let expected = format!("route `hook`, field `signature.secret_file`: `{path}` is empty");
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_secret_file_path_may_come_from_the_environment() {
    let err = load(&route_with(
        "scheme = \"github\"\nsecret_file = \"${SECRET_DIR}/gh\"",
    ))
    .unwrap_err();
    assert!(err.contains("cannot read `/run/secrets/gh`"), "{err}");
    let unset = route_with("scheme = \"github\"\nsecret_file = \"${NOT_SET}\"");
    assert!(load(&unset).unwrap_err().contains("NOT_SET"));
    let dev = format!("[server]\nenvironment = \"development\"\n{unset}");
    assert!(!hook(&valid(&dev)).has_secret());
}

#[test]
fn conflicting_or_foreign_keys_of_a_signature_table_are_refused() {
    let cases = [
        (
            "scheme = \"github\"\nsecret = \"a\"\nsecret_file = \"/run/secrets/x\"",
            "field `signature.secret`: set only one of `secret`, `secrets` or `secret_file`",
        ),
        (
            "scheme = \"slack\"\nsecret_file = \"/nonexistent/x\"",
            "route `hook`, field `signature.secret_file`: cannot read `/nonexistent/x`",
        ),
        (
            "scheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"md5\"\nsecret = \"s\"",
            "field `signature`: unknown variant: found `md5`",
        ),
        (
            "scheme = \"hmac-sha256\"\nheader = \"X-Sig\"\nalgorithm = \"sha1\"\nsecret = \"s\"",
            "unknown field: found `algorithm`",
        ),
        (
            "scheme = \"hmac\"\nsecret = \"s\"",
            "missing field `header`",
        ),
    ];
    for (table, expected) in cases {
        let err = load(&route_with(table)).unwrap_err();
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    }
}

/// Collects what the fmt layer writes.
#[test]
fn the_sha1_algorithm_is_a_warning_naming_the_route_and_field() {
    let table = "scheme = \"hmac\"\nheader = \"X-Sig\"\nalgorithm = \"sha1\"\nsecret = \"s\"";
    let config = valid(&route_with(table));
    let [warning] = &config.warnings[..] else {
        panic!("one warning expected: {:?}", config.warnings);
    };
    assert_eq!(warning.route.as_deref(), Some("hook"));
    assert_eq!(warning.field, "signature.algorithm");
    assert!(warning.message.contains("sha1 is weak"), "{warning}");
    let sha256 = "scheme = \"hmac\"\nheader = \"X-Sig\"\nsecret = \"s\"";
    assert!(valid(&route_with(sha256)).warnings.is_empty());
}

/// Whether `verifier` accepts BODY with `headers` and `query`.
fn presented_accepted(verifier: &Verifier, headers: &[(&str, &str)], query: Option<&str>) -> bool {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(HeaderName::try_from(*name).unwrap(), value.parse().unwrap());
    }
    let body = UnverifiedBody::new(BODY.to_vec().into());
    let presented = Presented::new(&map, query);
    verifier.verify(presented, body, SystemTime::now()).is_ok()
}

#[test]
fn a_token_table_reads_its_token_from_the_header_or_the_query_it_names() {
    let file = secret_file("from-the-file\n");
    let path = file.path().display();
    let header = valid(&route_with(
        "scheme = \"token\"\nheader = \"X-Webhook-Token\"\nsecrets = [\"new-token\", \"old-token\"]",
    ));
    let query = valid(&route_with(&format!(
        "scheme = \"token\"\nquery = \"token\"\nsecret_file = \"{path}\""
    )));
    let (header, query) = (hook(&header), hook(&query));
    assert_eq!(
        (header.scheme(), header.headers()),
        ("token", vec!["x-webhook-token"])
    );
    assert_eq!((query.query(), query.headers()), (Some("token"), vec![]));
    for token in ["new-token", "old-token"] {
        assert!(presented_accepted(
            header,
            &[("X-Webhook-Token", token)],
            None
        ));
    }
    assert!(!presented_accepted(
        header,
        &[("X-Webhook-Token", "guess")],
        None
    ));
    assert!(presented_accepted(query, &[], Some("token=from-the-file")));
    assert!(!presented_accepted(
        query,
        &[("token", "from-the-file")],
        None
    ));
}

#[test]
fn a_token_table_with_both_header_and_query_or_neither_is_refused_naming_route_and_field() {
    let cases = [
        (
            "header = \"X-Webhook-Token\"\nquery = \"token\"",
            "route `hook`, field `signature.query`: set either `header` or `query`, not both",
        ),
        (
            "",
            "route `hook`, field `signature.header`: set `header` (e.g. \"X-Webhook-Token\") or `query`",
        ),
    ];
    for (keys, expected) in cases {
        let table = format!("scheme = \"token\"\nsecret = \"hunter2-token\"\n{keys}");
        let err = load(&route_with(&table)).unwrap_err();
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
        assert!(!err.contains("hunter2-token"), "{err}");
    }
}

#[test]
fn a_token_header_that_is_invalid_or_hop_by_hop_is_refused_naming_route_and_field() {
    let cases = [
        ("X Token", "`X Token` is not a valid header name"),
        ("Connection", "`Connection` is a hop-by-hop header"),
        (
            "Transfer-Encoding",
            "`Transfer-Encoding` is a hop-by-hop header",
        ),
        (
            "X-Request-Id",
            "`X-Request-Id` is logged with every request",
        ),
        ("X-Forwarded-For", "`X-Forwarded-For` is set by the gateway"),
    ];
    for (name, expected) in cases {
        let table = format!("scheme = \"token\"\nheader = \"{name}\"\nsecret = \"hunter2-token\"");
        let err = load(&route_with(&table)).unwrap_err();
        let expected = format!("route `hook`, field `signature.header`: {expected}");
        assert!(err.contains(&expected), "expected `{expected}` in:\n{err}");
        assert!(!err.contains("hunter2-token"), "{err}");
    }
    let empty = "scheme = \"token\"\nquery = \"\"\nsecret = \"hunter2-token\"";
    let err = load(&route_with(empty)).unwrap_err();
    assert!(err.contains("field `signature.query`"), "{err}");
}

#[test]
fn a_token_that_cannot_travel_in_its_header_is_refused_without_being_quoted() {
    let cases = [
        ("secret = \" hunter2-token\"", "field `signature.secret`"),
        (
            "secrets = [\"ok-token\", \"hunter2-tökén\"]",
            "field `signature.secrets`",
        ),
    ];
    for (secret, field) in cases {
        let table = format!("scheme = \"token\"\nheader = \"X-Webhook-Token\"\n{secret}");
        let err = load(&route_with(&table)).unwrap_err();
        assert!(err.contains(field), "{err}");
        assert!(err.contains("printable ASCII"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn a_token_route_needs_a_token_in_production_only() {
    let table = "scheme = \"token\"\nquery = \"token\"";
    let err = load(&route_with(table)).unwrap_err();
    assert!(
        err.contains("field `signature.secret`: a secret is required"),
        "{err}"
    );
    let dev = format!(
        "[server]\nenvironment = \"development\"\n{}",
        route_with(table)
    );
    assert!(!hook(&valid(&dev)).has_secret());
}
