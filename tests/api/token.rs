//! The `token` scheme through the running gateway: the right token in its
//! header or query is forwarded, anything else refused, and the downstream
//! never sees the token.

use support::*;

const TOKEN: &str = "chatwoot-shared-token-4f9a";
const OLD_TOKEN: &str = "the-token-before-rotation";

/// The gateway with a token route per place (a header, the query,
/// `Authorization`) and a queued one, all to `downstream`; the store lives
/// in `store`.
async fn spawn_with_tokens(downstream: &Downstream, store: &tempfile::TempDir) -> TestApp {
    let route = |name: &str, downstream_path: &str, keys: &str| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"{}\"\ntimeout = \"2s\"\n{keys}\n\
             [routes.{name}.signature]\nscheme = \"token\"\nsecrets = [\"{TOKEN}\", \"{OLD_TOKEN}\"]\n",
            downstream.url(downstream_path)
        )
    };
    let config = [
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n".to_string(),
        route("header", "/header", "") + "header = \"X-Webhook-Token\"\n",
        // The downstream's own query is kept; the request's is not added.
        route("query", "/query?tenant=1", "") + "query = \"token\"\n",
        route("bearer", "/bearer", "") + "header = \"Authorization\"\n",
        route("queued", "/queued", "delivery = \"queued\"") + "header = \"X-Webhook-Token\"\n",
        format!(
            "[store]\npath = \"{}\"\n",
            store.path().join("hookgate.db").display()
        ),
    ]
    .concat();
    spawn_app(&config).await
}

/// Whether either token shows in `text`.
fn shows_a_token(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    text.contains(TOKEN) || text.contains(OLD_TOKEN)
}

/// Whether a token shows anywhere in what the downstream received.
fn token_reached_the_downstream(received: &[Recorded]) -> bool {
    received.iter().any(|r| {
        let in_headers = r.headers.values().any(|v| shows_a_token(v.as_bytes()));
        let in_query = r
            .query
            .as_deref()
            .is_some_and(|q| shows_a_token(q.as_bytes()));
        in_headers || in_query
    })
}

#[tokio::test]
async fn the_right_token_in_its_header_or_query_is_forwarded_without_the_token() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let app = spawn_with_tokens(&downstream, &store).await;

    let header = [("X-Webhook-Token", TOKEN.to_string())];
    assert_eq!(app.post("/header", &header, EVENT).await.status(), 200);
    let rotated = [("X-Webhook-Token", OLD_TOKEN.to_string())];
    assert_eq!(app.post("/header", &rotated, EVENT).await.status(), 200);
    let query = format!("/query?account=7&token={TOKEN}");
    assert_eq!(app.post(&query, &[], EVENT).await.status(), 200);
    let bearer = [("Authorization", format!("Bearer {TOKEN}"))];
    assert_eq!(app.post("/bearer", &bearer, EVENT).await.status(), 200);

    let received = downstream.received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/header", "/header", "/query", "/bearer"]);
    assert!(received.iter().all(|r| r.body == EVENT));
    assert_eq!(received[2].query.as_deref(), Some("tenant=1"));
    for recorded in &received {
        assert!(!recorded.headers.contains_key("x-webhook-token"));
        assert!(!recorded.headers.contains_key("authorization"));
    }
    assert!(!token_reached_the_downstream(&received));
    app.stop().await;
}

#[tokio::test]
async fn a_queued_event_is_stored_and_delivered_without_its_token_header() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let app = spawn_with_tokens(&downstream, &store).await;

    let header = [("X-Webhook-Token", TOKEN.to_string())];
    assert_eq!(app.post("/queued", &header, EVENT).await.status(), 202);

    eventually("the queued event is delivered", || async {
        downstream.received().len() == 1
    })
    .await;
    let received = downstream.received();
    assert_eq!(received[0].body, EVENT);
    assert!(received[0].headers.contains_key("x-hookgate-event-id"));
    assert!(!received[0].headers.contains_key("x-webhook-token"));
    assert!(!token_reached_the_downstream(&received));
    app.stop().await;
    // The store and the event log (databases, WALs) never held the token
    // either. The log's writer may still be closing: a WAL it removes
    // meanwhile held nothing its database does not.
    for file in std::fs::read_dir(store.path()).unwrap() {
        let path = file.unwrap().path();
        let Ok(stored) = std::fs::read(&path) else {
            continue;
        };
        assert!(!shows_a_token(&stored), "{}", path.display());
    }
}

#[tokio::test]
async fn a_missing_wrong_or_repeated_token_is_refused_with_401_and_nothing_is_forwarded() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let app = spawn_with_tokens(&downstream, &store).await;
    let token = |value: &str| vec![("X-Webhook-Token", value.to_string())];
    let repeated = format!("/query?token={TOKEN}&token={TOKEN}");
    let twice = vec![
        ("X-Webhook-Token", TOKEN.to_string()),
        ("X-Webhook-Token", TOKEN.to_string()),
    ];
    let cases = [
        ("/header", vec![], "missing token in header x-webhook-token"),
        ("/header", token("guess"), "token mismatch"),
        (
            "/header",
            token(&format!("Bearer {TOKEN}")),
            "token mismatch",
        ),
        ("/header", twice, "sent more than once"),
        (
            "/query",
            token(TOKEN),
            "missing token in query parameter token",
        ),
        ("/query?token=guess", vec![], "token mismatch"),
        (repeated.as_str(), vec![], "sent more than once"),
        (
            "/bearer",
            vec![("Authorization", TOKEN.to_string())],
            "expected Bearer <token>",
        ),
        ("/queued", token("guess"), "token mismatch"),
    ];
    for (path, headers, reason) in &cases {
        let response = app.post(path, headers, EVENT).await;
        assert_eq!(response.status(), 401, "{path} {reason}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "{path}: {text}");
        assert!(
            !text.contains(TOKEN) && !text.contains("guess"),
            "{path}: {text}"
        );
    }
    assert_eq!(downstream.received().len(), 0);
    app.stop().await;
}
