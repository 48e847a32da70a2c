//! GitHub, Stripe, Standard Webhooks and the generic `hmac` scheme through
//! the running gateway, signed here with the hmac and sha2 crates directly.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};

use support::*;

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const STRIPE_SECRET: &str = "whsec_test_secret";
/// The Standard Webhooks specification's example secret: base64 key bytes after `whsec_`.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HMAC_SECRET: &str = "from-a-secret-file";

/// The HMAC of the concatenated `parts` under `key`, computed by `M`.
fn mac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn github_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let tag = mac::<Hmac<Sha256>>(secret.as_bytes(), &[body]);
    vec![
        (
            "X-Hub-Signature-256",
            format!("sha256={}", hex::encode(tag)),
        ),
        (
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ),
    ]
}

fn stripe_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let t = now_secs().to_string();
    let tag = mac::<Hmac<Sha256>>(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    vec![("Stripe-Signature", format!("t={t},v1={}", hex::encode(tag)))]
}

fn standard_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let (id, t) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", now_secs().to_string());
    let signed = [id.as_bytes(), b".", t.as_bytes(), b".", body];
    let tag = mac::<Hmac<Sha256>>(&key, &signed);
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", t),
        ("webhook-signature", format!("v1,{}", STANDARD.encode(tag))),
    ]
}

fn sha512_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let tag = mac::<Hmac<Sha512>>(secret.as_bytes(), &[body]);
    vec![("X-Signature", STANDARD.encode(tag))]
}

/// A route of the test config: its path, the header its signature is in,
/// and how its source signs with the route's secret.
struct Scheme {
    path: &'static str,
    signature: &'static str,
    sign: fn(&[u8]) -> Vec<(&'static str, String)>,
}

const SCHEMES: [Scheme; 4] = [
    Scheme {
        path: "/github",
        signature: "X-Hub-Signature-256",
        sign: |body| github_headers(GITHUB_SECRET, body),
    },
    Scheme {
        path: "/stripe",
        signature: "Stripe-Signature",
        sign: |body| stripe_headers(STRIPE_SECRET, body),
    },
    Scheme {
        path: "/standard",
        signature: "webhook-signature",
        sign: |body| standard_headers(STANDARD_SECRET, body),
    },
    Scheme {
        path: "/sha512",
        signature: "X-Signature",
        sign: |body| sha512_headers(HMAC_SECRET, body),
    },
];

/// The gateway with one route per scheme, all to `downstream`, and the
/// secret file of the `hmac` route (kept alive with the app).
async fn spawn_with_schemes(downstream: &Downstream) -> (TestApp, tempfile::NamedTempFile) {
    let mut secret_file = tempfile::NamedTempFile::new().unwrap();
    writeln!(secret_file, "{HMAC_SECRET}").unwrap();
    let app = spawn_app(&config(downstream, &secret_file, "")).await;
    (app, secret_file)
}

fn config(downstream: &Downstream, secret_file: &tempfile::NamedTempFile, comment: &str) -> String {
    let route = |name: &str, table: String| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"{}\"\ntimeout = \"2s\"\n\
             signature = {{ {table} }}\n",
            downstream.url(&format!("/{name}"))
        )
    };
    let file = secret_file.path().display();
    [
        format!("[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n{comment}\n"),
        route(
            "github",
            format!("scheme = \"github\", secret = \"{GITHUB_SECRET}\""),
        ),
        route(
            "stripe",
            format!("scheme = \"stripe\", secret = \"{STRIPE_SECRET}\""),
        ),
        route(
            "standard",
            format!("scheme = \"standard-webhooks\", secret = \"{STANDARD_SECRET}\""),
        ),
        route(
            "sha512",
            format!(
                "scheme = \"hmac\", algorithm = \"sha512\", encoding = \"base64\", \
                 header = \"X-Signature\", secret_file = \"{file}\""
            ),
        ),
    ]
    .concat()
}

#[tokio::test]
async fn a_validly_signed_request_is_forwarded_unchanged_for_every_scheme() {
    let downstream = Downstream::start().await;
    let (app, _secret_file) = spawn_with_schemes(&downstream).await;

    for scheme in &SCHEMES {
        let response = app.post(scheme.path, &(scheme.sign)(EVENT), EVENT).await;
        assert_eq!(response.status(), 200, "{}", scheme.path);
    }

    let received = downstream.received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/github", "/stripe", "/standard", "/sha512"]);
    assert!(received.iter().all(|r| r.body == EVENT));
}

#[tokio::test]
async fn a_tampered_body_is_rejected_with_401_and_not_forwarded_for_every_scheme() {
    let downstream = Downstream::start().await;
    let (app, _secret_file) = spawn_with_schemes(&downstream).await;
    let tampered = br#"{"event":"message_created","id":43,"content":"hello"}"#;

    for scheme in &SCHEMES {
        let response = app.post(scheme.path, &(scheme.sign)(EVENT), tampered).await;
        assert_eq!(response.status(), 401, "{}", scheme.path);
        let text = response.text().await.unwrap();
        assert!(text.contains("signature does not match"), "{text}");
    }
    assert_eq!(downstream.received().len(), 0);
}

#[tokio::test]
async fn a_hostile_signature_header_is_rejected_with_401_never_a_5xx_for_every_scheme() {
    let downstream = Downstream::start().await;
    let (app, _secret_file) = spawn_with_schemes(&downstream).await;

    for scheme in &SCHEMES {
        let signed = (scheme.sign)(EVENT);
        let replaced = |value: String| {
            let mut headers: Vec<_> = signed
                .iter()
                .filter(|(n, _)| *n != scheme.signature)
                .cloned()
                .collect();
            headers.push((scheme.signature, value));
            headers
        };
        let mut twice = signed.clone();
        twice.extend(
            signed
                .iter()
                .filter(|(n, _)| *n == scheme.signature)
                .cloned(),
        );
        let hostile = [
            (replaced("v1,sha256=é\u{fffd}ñ".into()), "not ASCII"),
            (twice, "sent more than once"),
            (replaced("a".repeat(2048)), "too long"),
        ];
        for (headers, reason) in hostile {
            let response = app.post(scheme.path, &headers, EVENT).await;
            assert_eq!(response.status(), 401, "{} {reason}", scheme.path);
            let text = response.text().await.unwrap();
            assert!(text.contains(reason), "{}: {text}", scheme.path);
        }
    }
    assert_eq!(downstream.received().len(), 0);
}

#[tokio::test]
async fn a_rewritten_secret_file_is_used_after_the_next_reload() {
    let downstream = Downstream::start().await;
    let (app, secret_file) = spawn_with_schemes(&downstream).await;
    let post = |secret: &'static str| {
        let headers = sha512_headers(secret, EVENT);
        let app = &app;
        async move { app.post("/sha512", &headers, EVENT).await.status() }
    };
    assert_eq!(post(HMAC_SECRET).await, 200);

    std::fs::write(secret_file.path(), "rotated\r\n").unwrap();
    assert_eq!(post("rotated").await, 401, "read at load, not per request");
    // Any change of the config file reloads it, and the secret file with it.
    let edited = config(&downstream, &secret_file, "# rotated the hmac secret");
    std::fs::write(&app.config_path, edited).unwrap();

    eventually("the new secret is loaded", || async {
        post("rotated").await == 200
    })
    .await;
    assert_eq!(post(HMAC_SECRET).await, 401);
}
