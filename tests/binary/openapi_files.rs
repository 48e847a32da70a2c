//! openapi/openapi.{json,yaml} are generated from the shipped config and must not drift.

use std::path::Path;

use crate::process::hookgate;

const REGENERATE: &str = "cargo run -- openapi > openapi/openapi.json && \
                          cargo run -- openapi --format yaml > openapi/openapi.yaml";

fn generated(format: &str) -> String {
    let output = hookgate()
        .args([
            "openapi",
            "--config",
            "config/routes.toml",
            "--format",
            format,
        ])
        .env_remove("CHATWOOT_WEBHOOK_SECRET")
        .env_remove("AGENT_SDK_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_checked_in_spec_matches_the_shipped_config() {
    for (format, file) in [
        ("json", "openapi/openapi.json"),
        ("yaml", "openapi/openapi.yaml"),
    ] {
        let checked_in = std::fs::read_to_string(Path::new(file)).unwrap_or_default();
        assert!(
            checked_in == generated(format),
            "{file} is out of date with config/routes.toml; regenerate it with:\n  {REGENERATE}"
        );
    }
}
