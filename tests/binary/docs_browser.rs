//! A real browser renders /docs from a running gateway, before and after a reload.
//!
//! Needs Debian's `chromium`; `.ci/run` installs it and sets
//! HOOKGATE_REQUIRE_BROWSER=1 so that CI cannot skip this test.

use std::path::Path;

use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The DOM of `url` after Swagger UI has rendered, as headless Chromium sees it.
async fn rendered_dom(url: String) -> String {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .expect("chromium runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap()
}

/// Swagger UI renders each operation's path into a `data-path` attribute; the
/// raw page only has it inside the embedded spec, so this proves rendering.
fn lists_operation(dom: &str, path: &str) -> bool {
    dom.contains(&format!("data-path=\"{path}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_the_routes_and_follows_a_reload() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("HOOKGATE_REQUIRE_BROWSER").is_none(),
            "{CHROMIUM} is required here but missing"
        );
        eprintln!("skipping: {CHROMIUM} is not installed (apt-get install chromium)");
        return;
    }
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let app = spawn_app(&config).await;

    let before = rendered_dom(app.url("/docs")).await;
    assert!(
        lists_operation(&before, CHATWOOT_PATH),
        "not rendered:\n{}",
        &before[..before.len().min(2000)]
    );
    assert!(!lists_operation(&before, "/hooks/github"));

    let added = format!(
        "{config}\n[routes.github]\npath = \"/hooks/github\"\ndownstream = \"{}\"\n[routes.github.signature]\nscheme = \"github\"\nsecret = \"gh\"\n",
        downstream.url("/gh")
    );
    let tmp = app.config_path.with_extension("new");
    std::fs::write(&tmp, added).unwrap();
    std::fs::rename(&tmp, &app.config_path).unwrap();
    eventually("the reload that adds the route", || async {
        app.get_json("/healthz").await["config_generation"] == 2
    })
    .await;

    let after = rendered_dom(app.url("/docs")).await;
    assert!(
        lists_operation(&after, "/hooks/github"),
        "the reloaded route is not rendered"
    );
    assert!(lists_operation(&after, CHATWOOT_PATH));
}
