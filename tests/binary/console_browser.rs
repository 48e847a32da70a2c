//! A real browser drives the console: `tests/browser/console.mjs` in
//! headless Chromium (playwright-core) against a running gateway.
//!
//! Needs Debian's `chromium` and `npm ci --prefix tests/browser`; `.ci/run`
//! provides both and sets HOOKGATE_REQUIRE_BROWSER=1 so that CI cannot skip.

use std::path::{Path, PathBuf};

use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "admin-token-for-the-console-browser-test";
/// The failed event's delivery id, which the operator searches for.
const DELIVERY: &str = "d-console-browser-1";
/// Markup in a route's name: the console must show it as text.
const XSS_ROUTE: &str = "<img src=x onerror=window.__xss=4>";
/// Markup in the body, a header and the downstream's answer.
const XSS_BODY: &str = "<script>window.__xss=1</script><img src=x onerror=window.__xss=2>";
const XSS_HEADER: &str = "\"><img src=x onerror=window.__xss=3>";
/// Events on a page of the console's list.
const PAGE: usize = 50;
const XSS_ANSWER: &str =
    "agent down <b onmouseover=window.__xss=5>hover</b><script>alert(1)</script>";

fn browser_ready(root: &Path) -> bool {
    let missing = if !Path::new(CHROMIUM).exists() {
        format!("{CHROMIUM} (apt-get install chromium)")
    } else if !root
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        "tests/browser/node_modules (npm ci --prefix tests/browser)".to_string()
    } else {
        return true;
    };
    assert!(
        std::env::var_os("HOOKGATE_REQUIRE_BROWSER").is_none(),
        "{missing} is required here but missing"
    );
    eprintln!("skipping: {missing} is missing");
    false
}

/// A queued route whose downstream is down (nothing listens on port 9):
/// it answers 202, and its errors are its failed deliveries.
const ORDERS: &str = r#"
[routes.orders]
path = "/hooks/orders"
delivery = "queued"
downstream = "http://127.0.0.1:9/orders"
retry = { initial_backoff = "50ms", max_backoff = "200ms" }
signature = { scheme = "none" }
"#;

/// A queued route that gives up at the first failure: its events become
/// dead letters while the downstream fails, for the operator to replay
/// and purge.
const INVOICES: &str = "invoices";

fn invoices(downstream: &Downstream) -> String {
    format!(
        "[routes.{INVOICES}]\npath = \"/hooks/invoices\"\ndelivery = \"queued\"\n\
         downstream = \"{}\"\nretry = {{ max_attempts = 1 }}\n\
         signature = {{ scheme = \"none\" }}\n",
        downstream.url("/invoices")
    )
}

fn config(downstream: &Downstream) -> String {
    let config = chatwoot_config(&downstream.url("/hook"), "");
    format!(
        "{config}\n[routes.{XSS_ROUTE:?}]\npath = \"/hooks/other\"\ndownstream = \"{}\"\n\
         [routes.{XSS_ROUTE:?}.signature]\nscheme = \"github\"\nsecret = \"gh\"\n\
         {ORDERS}\n{}\n[admin]\ntoken = \"{TOKEN}\"\n",
        downstream.url("/other"),
        invoices(downstream),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_a_failed_event_in_the_console_and_replays_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !browser_ready(&root) {
        return;
    }
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    // Other events first, more than a page of them: finding the failed one
    // takes its delivery id, and the oldest is on the page of older events.
    for _ in 0..PAGE + 1 {
        assert_eq!(app.post_event().await.status(), 200);
    }
    downstream.answer_with(500);
    downstream.answer_body(XSS_ANSWER);
    let body = format!(r#"{{"event":"message_created","content":"{XSS_BODY}"}}"#);
    let mut headers = chatwoot_headers(SECRET, now_secs(), body.as_bytes());
    headers.retain(|(name, _)| *name != "X-Chatwoot-Delivery");
    headers.extend([
        ("X-Chatwoot-Delivery", DELIVERY.to_string()),
        ("X-Note", XSS_HEADER.to_string()),
    ]);
    let failed = app.post(CHATWOOT_PATH, &headers, body.as_bytes()).await;
    assert_eq!(failed.status(), 500);
    let order = app.client.post(app.url("/hooks/orders")).body("{}");
    assert_eq!(order.send().await.unwrap().status(), 202);
    let invoices = [r#"{"invoice":1}"#, r#"{"invoice":2}"#];
    for invoice in invoices {
        let post = app.client.post(app.url("/hooks/invoices")).body(invoice);
        assert_eq!(post.send().await.unwrap().status(), 202);
    }
    eventually("both invoices are dead letters", || async {
        queue(&app, INVOICES).await["dead_letters"] == 2
    })
    .await;
    // The downstream is back: the operator can replay.
    downstream.answer_with(200);
    downstream.answer_body(r#"{"ok":true}"#);

    let screenshots = root.join("target/console-screenshots");
    let mut script = std::process::Command::new("node");
    script
        .arg("tests/browser/console.mjs")
        .current_dir(&root)
        .env("HOOKGATE_URL", app.admin_url(""))
        .env("HOOKGATE_TOKEN", TOKEN)
        .env("DELIVERY_ID", DELIVERY)
        .env("XSS_ROUTE", XSS_ROUTE)
        .env("XSS_TEXT", XSS_BODY)
        .env("DEAD_ROUTE", INVOICES)
        .env("SCREENSHOTS", &screenshots);
    // The script bounds each of its waits itself.
    let output = tokio::task::spawn_blocking(move || script.output().expect("node runs"))
        .await
        .unwrap();

    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser script failed:\n{report}"
    );
    let received = downstream.received();
    let to = |path: &str| -> Vec<Vec<u8>> {
        let sent = received.iter().filter(|r| r.path == path);
        sent.map(|r| r.body.clone()).collect()
    };
    let chatwoot = to("/hook");
    assert_eq!(
        chatwoot.len(),
        PAGE + 3,
        "the others, the failed call and the replay"
    );
    assert_eq!(chatwoot[PAGE + 2], body.as_bytes());
    let invoiced = to("/invoices");
    assert_eq!(invoiced.len(), 3, "two failed calls, then one replayed");
    assert!(invoices.iter().any(|i| i.as_bytes() == invoiced[2]));
    let queue = queue(&app, INVOICES).await;
    assert_eq!(
        (&queue["dead_letters"], &queue["depth"]),
        (&0.into(), &0.into()),
        "one replayed, the other purged"
    );
    app.stop().await;
}

async fn queue(app: &TestApp, route: &str) -> serde_json::Value {
    let url = app.admin_url(&format!("/admin/routes/{route}/queue"));
    let view = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    view.json().await.unwrap()
}
