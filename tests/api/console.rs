//! The operator console: login, sessions standing in for the admin token,
//! CSRF on every change, the security headers, and the endpoints it reads
//! (`/admin/history`) and adds (purging dead letters).

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-console-tests";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn spawn(downstream: &Downstream, route_keys: &str) -> (TestApp, reqwest::Client) {
    let config = chatwoot_config(&downstream.url("/hook"), route_keys);
    let app = spawn_app(&format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")).await;
    // The console answers with redirects: the tests look at them.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (app, client)
}

/// `request` with `fields` as an HTML form's body.
fn form(request: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = request.header("content-type", "application/x-www-form-urlencoded");
    request.body(body)
}

async fn log_in(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::Response {
    let request = form(
        client.post(app.admin_url("/console/login")),
        &[("token", token)],
    );
    request.send().await.unwrap()
}

/// `hookgate_session=<id>`, from a successful login.
async fn session_cookie(app: &TestApp, client: &reqwest::Client) -> String {
    let answer = log_in(app, client, TOKEN).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token the console page carries in its `<meta>`.
async fn csrf_of_page(app: &TestApp, client: &reqwest::Client, cookie: &str) -> String {
    let page = client.get(app.admin_url("/console")).header(COOKIE, cookie);
    let page = page.send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let meta = r#"name="csrf-token" content=""#;
    let at = html.find(meta).expect("the meta tag") + meta.len();
    html[at..at + 64].to_string()
}

fn redirects_to_login(answer: &reqwest::Response) -> bool {
    answer.status() == StatusCode::SEE_OTHER && answer.headers()[LOCATION] == "/console/login"
}

#[tokio::test]
async fn a_wrong_token_at_login_shows_the_form_again_and_counts_toward_the_lockout() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;

    for _ in 0..5 {
        let wrong = log_in(&app, &client, "not-the-token").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(!wrong.headers().contains_key(SET_COOKIE));
        assert!(wrong.text().await.unwrap().contains("Wrong token."));
    }
    let right_but_locked = log_in(&app, &client, TOKEN).await;

    assert_eq!(right_but_locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!right_but_locked.headers().contains_key(SET_COOKIE));
    let bearer = client
        .get(app.admin_url("/admin/status"))
        .bearer_auth(TOKEN);
    assert_eq!(bearer.send().await.unwrap().status(), 429, "one lockout");
    let unknown = client.get(app.admin_url("/admin/status"));
    let unknown = unknown.header(COOKIE, format!("hookgate_session={}", "0".repeat(64)));
    assert_eq!(
        unknown.send().await.unwrap().status(),
        401,
        "no such session"
    );
}

#[tokio::test]
async fn an_open_session_goes_on_while_wrong_tokens_from_its_address_lock_it_out() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;
    let cookie = session_cookie(&app, &client).await;

    // Another operator behind the same SSH tunnel, guessing.
    for _ in 0..6 {
        let guess = client.get(app.admin_url("/admin/status"));
        guess.bearer_auth("not-the-token").send().await.unwrap();
    }
    let bearer = client
        .get(app.admin_url("/admin/status"))
        .bearer_auth(TOKEN);
    let with_session = client.get(app.admin_url("/admin/status"));
    let with_session = with_session.header(COOKIE, &cookie);

    assert_eq!(bearer.send().await.unwrap().status(), 429, "locked out");
    assert_eq!(with_session.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn without_a_session_every_console_page_redirects_and_every_action_is_refused() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;
    let forged =
        "hookgate_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    for cookie in ["", forged] {
        let page = client.get(app.admin_url("/console")).header(COOKIE, cookie);
        assert!(redirects_to_login(&page.send().await.unwrap()), "{cookie}");
        let logout = client
            .post(app.admin_url("/console/logout"))
            .header(COOKIE, cookie);
        let logout = form(logout, &[("csrf", "x")]).send().await.unwrap();
        assert!(redirects_to_login(&logout));
        let actions = [
            client.post(app.admin_url("/admin/reload")),
            client.post(app.admin_url("/admin/events/e1/replay")),
            client.post(app.admin_url("/admin/routes/chatwoot/replay")),
            client.delete(app.admin_url("/admin/routes/chatwoot/dead-letters")),
            client.get(app.admin_url("/admin/history")),
        ];
        for action in actions {
            let answer = action.header(COOKIE, cookie).send().await.unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::UNAUTHORIZED,
                "{}",
                answer.url()
            );
        }
    }
    let form = client
        .get(app.admin_url("/console/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
}

#[tokio::test]
async fn a_cookie_session_changes_state_only_with_its_csrf_token() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;
    let cookie = session_cookie(&app, &client).await;
    let csrf = csrf_of_page(&app, &client, &cookie).await;
    let reload = || {
        client
            .post(app.admin_url("/admin/reload"))
            .header(COOKIE, &cookie)
    };

    let read = client
        .get(app.admin_url("/admin/status"))
        .header(COOKIE, &cookie);
    let read = read.send().await.unwrap();
    let without = reload().send().await.unwrap();
    let wrong = reload().header("X-CSRF-Token", "0".repeat(64));
    let wrong = wrong.send().await.unwrap();
    let with = reload().header("X-CSRF-Token", &csrf).send().await.unwrap();

    assert_eq!(read.status(), 200, "reading needs no CSRF token");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(with.status(), 200);
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;
    let cookie = session_cookie(&app, &client).await;
    let csrf = csrf_of_page(&app, &client, &cookie).await;
    let logout = client
        .post(app.admin_url("/console/logout"))
        .header(COOKIE, &cookie);

    let refused = form(logout.try_clone().unwrap(), &[("csrf", "nope")]);
    assert_eq!(refused.send().await.unwrap().status(), 403);
    let done = form(logout, &[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();

    assert!(redirects_to_login(&done));
    let page = client
        .get(app.admin_url("/console"))
        .header(COOKIE, &cookie);
    assert!(redirects_to_login(&page.send().await.unwrap()));
}

#[tokio::test]
async fn every_console_answer_carries_a_strict_content_security_policy() {
    let downstream = Downstream::start().await;
    let (app, client) = spawn(&downstream, "").await;
    let cookie = session_cookie(&app, &client).await;

    for path in [
        "/console",
        "/console/login",
        "/console/assets/console.js",
        "/console/assets/console.css",
    ] {
        let answer = client.get(app.admin_url(path)).header(COOKIE, &cookie);
        let answer = answer.send().await.unwrap();
        let headers = answer.headers();
        assert_eq!(headers[CONTENT_SECURITY_POLICY], CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let text = answer.text().await.unwrap();
        assert!(
            !text.contains(" style=") && !text.contains("<script>"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_history_lists_every_route_with_its_buckets_after_some_requests() {
    let downstream = Downstream::start().await;
    let (app, _) = spawn(&downstream, "").await;
    for _ in 0..3 {
        assert_eq!(app.post_event().await.status(), 200);
    }
    downstream.answer_with(500);
    assert_eq!(app.post_event().await.status(), 500);

    let history = app
        .client
        .get(app.admin_url("/admin/history"))
        .bearer_auth(TOKEN);
    let history: Value = history.send().await.unwrap().json().await.unwrap();

    assert_eq!(history["step_secs"], 10);
    let route = &history["routes"][0];
    assert_eq!(route["route"], "chatwoot");
    assert_eq!(
        (&route["requests"], &route["server_errors"]),
        (&4.into(), &1.into())
    );
    assert!(route["p50_ms"].as_f64().unwrap() > 0.0, "{route}");
    let buckets = route["buckets"].as_array().unwrap();
    let counted: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 4, "{route}");
}

#[tokio::test]
async fn purging_removes_a_dead_letter_and_an_unknown_one_is_404() {
    let downstream = Downstream::start().await;
    let retry = r#"retry = { max_attempts = 2, initial_backoff = "50ms" }"#;
    let (app, _) = spawn(&downstream, &format!("delivery = \"queued\"\n{retry}")).await;
    downstream.answer_with(500);
    assert_eq!(app.post_event().await.status(), 202);
    let queue = || async {
        let view = app
            .client
            .get(app.admin_url("/admin/routes/chatwoot/queue"));
        let view = view.bearer_auth(TOKEN).send().await.unwrap();
        view.json::<Value>().await.unwrap()
    };
    eventually("a dead letter", || async {
        queue().await["dead_letters"] == 1
    })
    .await;
    let id = queue().await["dead"][0]["id"].as_str().unwrap().to_string();
    let purge = |id: &str| {
        let url = app.admin_url(&format!("/admin/routes/chatwoot/dead-letters?id={id}"));
        app.client.delete(url).bearer_auth(TOKEN).send()
    };

    let unknown = purge("no-such-event").await.unwrap();
    let purged = purge(&id).await.unwrap();

    assert_eq!(unknown.status(), 404);
    assert_eq!(purged.status(), 200);
    assert_eq!(purged.json::<Value>().await.unwrap()["purged"], 1);
    assert_eq!(queue().await["dead_letters"], 0);
}

#[tokio::test]
async fn the_console_does_not_exist_without_an_admin_token() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    for path in ["/console", "/console/login", "/console/assets/console.js"] {
        let answer = app.client.get(app.admin_url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    let login = app
        .client
        .post(app.admin_url("/console/login"))
        .body("token=x");
    assert_eq!(login.send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_a_trusted_proxy_says_the_client_spoke_https() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let config = with_server_keys(&config, r#"trusted_proxies = ["127.0.0.1"]"#);
    let app = spawn_app(&format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |proto: &'static str| {
        let request = client.post(app.admin_url("/console/login"));
        let request = form(request, &[("token", TOKEN)]);
        request.header("X-Forwarded-Proto", proto).send()
    };

    let https = login("https").await.unwrap();
    let http = login("http").await.unwrap();

    let cookie =
        |answer: &reqwest::Response| answer.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie(&https).contains("Secure"), "{}", cookie(&https));
    assert!(!cookie(&http).contains("Secure"), "{}", cookie(&http));
}

#[tokio::test]
async fn the_spec_lists_the_history_and_the_purge_with_both_ways_in() {
    let downstream = Downstream::start().await;
    let (app, _) = spawn(&downstream, "").await;

    let spec = app.get_json("/openapi.json").await;

    let history = &spec["paths"]["/admin/history"]["get"];
    let purge = &spec["paths"]["/admin/routes/{name}/dead-letters"]["delete"];
    assert!(history["responses"]["200"].is_object(), "{history}");
    assert!(purge["responses"]["403"].is_object(), "{purge}");
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("ConsoleSession"), "{schemes:?}");
}
