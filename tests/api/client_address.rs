//! Who may post: a route's `allow_ips`, and the client's address and scheme
//! as a trusted proxy reports them.

use std::net::IpAddr;

use support::*;

fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .build()
        .unwrap()
}

async fn post_from(
    app: &TestApp,
    client: &reqwest::Client,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client.post(app.url(CHATWOOT_PATH)).body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_route_with_allow_ips_refuses_other_addresses_with_403_and_forwards_nothing() {
    let downstream = Downstream::start().await;
    let route_keys = r#"allow_ips = ["127.0.0.2", "10.0.0.0/8"]"#;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), route_keys)).await;

    let outsider = post_from(&app, &client_from([127, 0, 0, 1]), &[]).await;
    let allowed = post_from(&app, &client_from([127, 0, 0, 2]), &[]).await;

    assert_eq!(outsider.status(), 403);
    assert_eq!(allowed.status(), 200);
    assert_eq!(downstream.received().len(), 1);
    let metrics = app.get_text("/metrics").await;
    let forbidden = r#"hookgate_requests_total{route="chatwoot",outcome="forbidden"} 1"#;
    assert!(metrics.contains(forbidden), "{metrics}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_decides() {
    let downstream = Downstream::start().await;
    let config = with_server_keys(
        &chatwoot_config(&downstream.url("/hook"), r#"allow_ips = ["192.0.2.0/24"]"#),
        r#"trusted_proxies = ["127.0.0.1"]"#,
    );
    let app = spawn_app(&config).await;
    let proxy = client_from([127, 0, 0, 1]);

    let allowed = post_from(&app, &proxy, &[("X-Forwarded-For", "192.0.2.8")]).await;
    let outsider = post_from(&app, &proxy, &[("X-Forwarded-For", "198.51.100.1")]).await;
    // A client may prepend anything; only the hop the proxy added counts.
    let forged = [("X-Forwarded-For", "192.0.2.8, 198.51.100.1")];
    let forged = post_from(&app, &proxy, &forged).await;

    assert_eq!(allowed.status(), 200);
    assert_eq!(outsider.status(), 403);
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn a_trusted_proxys_https_reaches_the_downstream_and_an_untrusted_clients_does_not() {
    let downstream = Downstream::start().await;
    let config = with_server_keys(
        &chatwoot_config(&downstream.url("/hook"), ""),
        r#"trusted_proxies = ["127.0.0.2"]"#,
    );
    let app = spawn_app(&config).await;
    let claim = [("X-Forwarded-Proto", "https")];

    post_from(&app, &client_from([127, 0, 0, 2]), &claim).await;
    post_from(&app, &client_from([127, 0, 0, 1]), &claim).await;

    let received = downstream.received();
    assert_eq!(received[0].headers["x-forwarded-proto"], "https");
    assert_eq!(received[1].headers["x-forwarded-proto"], "http");
}
