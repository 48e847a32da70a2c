//! Metrics, readiness, the admin API and load shedding.

use std::time::Duration;

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-tests";

fn with_admin(config: String) -> String {
    format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")
}

async fn metrics(app: &TestApp) -> String {
    app.get_text("/metrics").await
}

#[tokio::test]
async fn request_metrics_move_as_requests_are_answered() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    app.post_event().await;
    app.post(
        CHATWOOT_PATH,
        &chatwoot_headers("wrong", now_secs(), EVENT),
        EVENT,
    )
    .await;

    let text = metrics(&app).await;
    for line in [
        r#"hookgate_requests_total{route="chatwoot",outcome="forwarded"} 1"#,
        r#"hookgate_requests_total{route="chatwoot",outcome="unauthorized"} 1"#,
        r#"hookgate_request_duration_seconds_count{route="chatwoot"} 2"#,
        r#"hookgate_downstream_duration_seconds_count{route="chatwoot"} 1"#,
        r#"hookgate_in_flight{route="chatwoot"} 0"#,
        r#"hookgate_route_enabled{route="chatwoot"} 1"#,
        "hookgate_config_generation 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn readyz_is_200_once_a_config_is_loaded() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_admin_api_refuses_a_missing_or_wrong_token() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&with_admin(chatwoot_config(&downstream.url("/hook"), ""))).await;

    let none = app
        .client
        .get(app.admin_url("/admin/status"))
        .send()
        .await
        .unwrap();
    let wrong = app
        .client
        .get(app.admin_url("/admin/status"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    let reload = app
        .client
        .post(app.admin_url("/admin/reload"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();

    let statuses = [none.status(), wrong.status(), reload.status()].map(|s| s.as_u16());
    assert_eq!(statuses, [401, 401, 401]);
}

#[tokio::test]
async fn the_admin_api_is_absent_without_a_token() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app
        .client
        .get(app.admin_url("/admin/status"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn admin_status_shows_a_failing_route_and_no_secret() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    let app = spawn_app(&with_admin(chatwoot_config(&downstream.url("/hook"), ""))).await;
    app.post_event().await;

    let response = app
        .client
        .get(app.admin_url("/admin/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    let status: Value = serde_json::from_str(&text).unwrap();
    let route = &status["routes"][0];
    assert_eq!(route["name"], "chatwoot");
    assert_eq!(route["streak"]["consecutive_failures"], 1);
    assert_eq!(route["streak"]["last_status"], 500);
    assert_eq!(route["downstream_host"], "127.0.0.1");
}

#[tokio::test]
async fn admin_reload_applies_the_file_now() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&with_admin(chatwoot_config(&downstream.url("/hook"), ""))).await;

    let response = app
        .client
        .post(app.admin_url("/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["config_generation"].as_u64().unwrap() >= 2, "{body}");
}

#[tokio::test]
async fn a_route_at_max_in_flight_sheds_with_503_while_admitted_requests_succeed() {
    let downstream = Downstream::start().await;
    downstream.delay(Duration::from_millis(600));
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "max_in_flight = 1",
    ))
    .await;

    let signed = chatwoot_headers(SECRET, now_secs(), EVENT);
    let first = app.post(CHATWOOT_PATH, &signed, EVENT);
    let later = async {
        eventually("the first request reached the downstream", || async {
            downstream.received().len() == 1
        })
        .await;
        app.post_event().await
    };
    let (first, later) = tokio::join!(first, later);

    assert_eq!(first.status(), 200);
    assert_eq!(later.status(), 503);
    assert_eq!(later.headers()["retry-after"], "1");
    assert_eq!(downstream.received().len(), 1);
    assert!(metrics(&app).await.contains(r#"outcome="shed"} 1"#));
}

#[tokio::test]
async fn the_admin_api_is_served_on_its_own_listener_and_not_on_the_public_one() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&with_admin(chatwoot_config(&downstream.url("/hook"), ""))).await;

    let own = admin_status(&app, &app.admin_url("/admin/status")).await;
    let public = admin_status(&app, &app.url("/admin/status")).await;

    assert_ne!(app.admin_addr, Some(app.addr));
    assert_eq!((own, public), (200, 404));
}

#[tokio::test]
async fn listen_public_serves_the_admin_api_on_the_public_listener() {
    let downstream = Downstream::start().await;
    let config =
        with_admin(chatwoot_config(&downstream.url("/hook"), "")) + "listen = \"public\"\n";
    let app = spawn_app(&config).await;

    let public = admin_status(&app, &app.url("/admin/status")).await;

    assert_eq!(app.admin_addr, None);
    assert_eq!(public, 200);
}

async fn admin_status(app: &TestApp, url: &str) -> u16 {
    let request = app.client.get(url).bearer_auth(TOKEN);
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn wrong_admin_tokens_are_counted_and_lock_their_address_out_after_five() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&with_admin(chatwoot_config(&downstream.url("/hook"), ""))).await;
    let status_with = |client: reqwest::Client, token: &'static str| {
        let url = app.admin_url("/admin/status");
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };

    for _ in 0..5 {
        let guess = status_with(app.client.clone(), "guess-0123456789").await;
        assert_eq!(guess.status(), 401);
    }
    let locked = status_with(app.client.clone(), TOKEN).await;
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let other_address = status_with(elsewhere, TOKEN).await;

    assert_eq!(locked.status(), 429);
    assert_eq!(locked.headers()["retry-after"], "60");
    assert_eq!(other_address.status(), 200);
    assert!(
        metrics(&app)
            .await
            .contains("hookgate_admin_auth_failures_total 5\n")
    );
}
