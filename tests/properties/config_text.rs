//! Arbitrary text, and arbitrary values in a valid file, never panic the loader.

use std::path::Path;

use hookgate::config;
use proptest::prelude::*;

const VALID: &str = "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\
    [routes.r]\npath = \"/r\"\ndownstream = \"http://127.0.0.1:9/\"\n{route}\n\
    [routes.r.signature]\nscheme = \"hmac\"\nheader = \"X-Sig\"\nsecret = \"s\"\n{signature}\n";

const KEYS: &[&str] = &[
    "listen",
    "environment",
    "max_body_bytes",
    "shutdown_timeout",
    "path",
    "enabled",
    "downstream",
    "timeout",
    "max_in_flight",
    "alert_after",
    "scheme",
    "secret",
    "secrets",
    "secret_file",
    "tolerance",
    "header",
    "encoding",
    "prefix",
    "algorithm",
    "token",
];

fn load(text: &str) {
    let vars = [("SET", "value")].into_iter().collect();
    let _ = config::from_text(text, Path::new("routes.toml"), &vars);
}

/// A TOML value: raw text (often not TOML), a quoted string, a number, a list.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[ -~]{0,40}".prop_map(|s| format!("{s:?}")),
        "(\\$\\{(SET|UNSET)(:-[a-z/]{0,5})?\\}|\\$\\$|\\$|[a-z0-9:/._-]){0,6}"
            .prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        proptest::collection::vec("[ -~]{0,10}", 0..4).prop_map(|v| format!("{v:?}")),
    ]
}

proptest! {
        #[test]
    fn arbitrary_text_never_panics_the_config_loader(text in any::<String>()) {
        load(&text);
    }

    #[test]
    fn toml_like_text_never_panics_the_config_loader(
        text in "(\\[{1,2}(routes|server|admin)(\\.[a-z]{1,3}){0,2}\\]{1,2}\n|[a-z_]{1,12} = (\"[ -~]{0,12}\"|[0-9]{1,20}|true|\\{[ -~]{0,20}\\})\n){0,12}",
    ) {
        load(&text);
    }

    #[test]
    fn an_arbitrary_value_spliced_into_a_valid_route_never_panics(
        key in 0..KEYS.len(),
        value in value(),
        table in 0..3usize,
    ) {
        let line = format!("{} = {value}", KEYS[key]);
        let mut slots = ["", "", ""];
        slots[table] = &line;
        let text = VALID
            .replace("{server}", slots[0])
            .replace("{route}", slots[1])
            .replace("{signature}", slots[2]);
        load(&text);
    }
}
