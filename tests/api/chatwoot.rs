//! The Chatwoot scheme through the running gateway.

use serde_json::Value;

use support::*;

async fn answer(headers: &[(&str, String)], body: &[u8]) -> (u16, String, usize) {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let response = app.post(CHATWOOT_PATH, headers, body).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default().to_string();
    (status, error, downstream.received().len())
}

#[tokio::test]
async fn a_valid_signature_is_forwarded() {
    let (status, _, forwarded) = answer(&chatwoot_headers(SECRET, now_secs(), EVENT), EVENT).await;
    assert_eq!((status, forwarded), (200, 1));
}

#[tokio::test]
async fn a_signature_made_with_the_previous_secret_is_accepted_during_rotation() {
    let (status, _, forwarded) =
        answer(&chatwoot_headers("old-secret", now_secs(), EVENT), EVENT).await;
    assert_eq!((status, forwarded), (200, 1));
}

#[tokio::test]
async fn a_tampered_body_is_rejected_with_401() {
    let headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    let (status, error, forwarded) =
        answer(&headers, br#"{"event":"message_created","id":43}"#).await;
    assert_eq!(
        (status, error.as_str(), forwarded),
        (401, "invalid signature: signature does not match", 0)
    );
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_with_401() {
    let (status, _, forwarded) = answer(&chatwoot_headers("guess", now_secs(), EVENT), EVENT).await;
    assert_eq!((status, forwarded), (401, 0));
}

#[tokio::test]
async fn a_timestamp_older_than_five_minutes_is_rejected() {
    let (status, error, forwarded) =
        answer(&chatwoot_headers(SECRET, now_secs() - 310, EVENT), EVENT).await;
    assert_eq!((status, forwarded), (401, 0));
    assert!(error.contains("too old"), "{error}");
}

#[tokio::test]
async fn a_timestamp_more_than_five_minutes_ahead_is_rejected() {
    let (status, error, forwarded) =
        answer(&chatwoot_headers(SECRET, now_secs() + 310, EVENT), EVENT).await;
    assert_eq!((status, forwarded), (401, 0));
    assert!(error.contains("in the future"), "{error}");
}

#[tokio::test]
async fn missing_or_malformed_headers_are_rejected_with_a_reason() {
    let good = chatwoot_headers(SECRET, now_secs(), EVENT);
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![good[1].clone()], "missing header X-Chatwoot-Signature"),
        (vec![good[0].clone()], "missing header X-Chatwoot-Timestamp"),
        (
            vec![("X-Chatwoot-Signature", "md5=abc".into()), good[1].clone()],
            "expected sha256=<hex>",
        ),
        (
            vec![
                ("X-Chatwoot-Signature", "sha256=zz".into()),
                good[1].clone(),
            ],
            "not hexadecimal",
        ),
        (
            vec![
                ("X-Chatwoot-Signature", "sha256=abcd".into()),
                good[1].clone(),
            ],
            "wrong digest length",
        ),
        (
            vec![
                good[0].clone(),
                ("X-Chatwoot-Timestamp", "yesterday".into()),
            ],
            "not a unix timestamp",
        ),
        (
            vec![good[0].clone(), good[1].clone(), good[0].clone()],
            "sent more than once",
        ),
    ];
    for (headers, reason) in cases {
        let (status, error, forwarded) = answer(&headers, EVENT).await;
        assert_eq!((status, forwarded), (401, 0), "{reason}");
        assert!(error.contains(reason), "expected `{reason}` in `{error}`");
    }
}

#[tokio::test]
async fn the_expected_signature_never_appears_in_the_answer() {
    let good = chatwoot_headers(SECRET, now_secs(), EVENT);
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let response = app
        .post(
            CHATWOOT_PATH,
            &chatwoot_headers("guess", now_secs(), EVENT),
            EVENT,
        )
        .await;
    let text = response.text().await.unwrap();
    let expected_hex = good[0].1.trim_start_matches("sha256=");
    assert!(!text.contains(expected_hex));
    assert!(!text.contains(SECRET));
}

#[tokio::test]
async fn development_mode_forwards_unsigned_requests() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "")
        .replace("[server]", "[server]\nenvironment = \"development\"");
    let app = spawn_app(&config).await;

    let response = app.post(CHATWOOT_PATH, &[], EVENT).await;

    assert_eq!(response.status(), 200);
    assert_eq!(downstream.received().len(), 1);
}
