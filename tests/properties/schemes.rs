//! Arbitrary headers, queries and bodies never panic a scheme and never
//! forge a signature or a token.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate::config::{self, Config};
use hookgate::signature::{Presented, UnverifiedBody, Verifier, VerifyError};
use poem::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

/// The clock the requests are checked against, unless a case picks another.
const NOW: u64 = 1_700_000_000;

/// One route per scheme with a secret; the generic one in each algorithm;
/// `token` in each place it travels. Tokens are long: noise cannot be them.
const ROUTES: &str = r#"
[routes.chatwoot]
path = "/chatwoot"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "chatwoot", secrets = ["s", "t"] }
[routes.github]
path = "/github"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "github", secret = "s" }
[routes.shopify]
path = "/shopify"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "shopify", secret = "s" }
[routes.stripe]
path = "/stripe"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "stripe", secret = "whsec_s" }
[routes.slack]
path = "/slack"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "slack", secret = "s" }
[routes.standard]
path = "/standard"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "standard-webhooks", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
[routes.sha256]
path = "/sha256"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "hmac", header = "X-Signature", prefix = "sha256=", secret = "s" }
[routes.sha512]
path = "/sha512"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "hmac", header = "X-Signature", algorithm = "sha512", encoding = "base64", secret = "s" }
[routes.sha1]
path = "/sha1"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "hmac", header = "X-Signature", algorithm = "sha1", prefix = "sha1=", secret = "s" }
[routes.legacy]
path = "/legacy"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "hmac-sha256", header = "X-Signature", encoding = "base64", secret = "s" }
[routes.token-header]
path = "/token-header"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "token", header = "X-Webhook-Token", secrets = ["a-long-shared-token-noise-cannot-be", "the-previous-long-shared-token"] }
[routes.token-bearer]
path = "/token-bearer"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "token", header = "Authorization", secret = "a-long-shared-token-noise-cannot-be" }
[routes.token-query]
path = "/token-query"
downstream = "http://127.0.0.1:9/"
signature = { scheme = "token", query = "token", secret = "a-long shared+token/noise cannot be" }
"#;

/// Every header a scheme reads, and one none does; drawn with repetition,
/// so a case may send one of them twice.
const NAMES: &[&str] = &[
    "X-Hub-Signature-256",
    "X-Shopify-Hmac-Sha256",
    "Stripe-Signature",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Chatwoot-Signature",
    "X-Chatwoot-Timestamp",
    "X-Signature",
    "X-Webhook-Token",
    "Authorization",
    "X-Unrelated",
];

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        config::from_text(ROUTES, Path::new("routes.toml"), &config::Vars::default())
            .expect("ROUTES is valid")
    })
}

fn verify(
    verifier: &Verifier,
    (headers, query): (&HeaderMap, Option<&str>),
    body: &[u8],
    now: SystemTime,
) -> Result<(), VerifyError> {
    let body = UnverifiedBody::new(body.to_vec().into());
    let presented = Presented::new(headers, query);
    verifier.verify(presented, body, now).map(|_| ())
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Any byte a header value may hold: visible ASCII, tab and obs-text (non-ASCII).
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff]
}

/// Header values from noise to almost-right, with huge ones among them.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let text = prop_oneof![
        4 => proptest::collection::vec(header_byte(), 0..80),
        1 => proptest::collection::vec(header_byte(), 900..5000),
        2 => "(sha256=|sha1=|v0=)?[0-9a-fA-F]{0,130}".prop_map(String::into_bytes),
        2 => "(t|v0|v1|x)=[0-9a-f=]{0,70}(,{1,2}(t|v0|v1|x)?=?[0-9a-f]{0,70}){0,4}"
            .prop_map(String::into_bytes),
        2 => "( ?v1a?,[A-Za-z0-9+/=]{0,90}){0,4} ?".prop_map(String::into_bytes),
        1 => "([Bb]earer +)?[!-~]{0,60}".prop_map(String::into_bytes),
        2 => (NOW - 400..NOW + 400).prop_map(|t| t.to_string().into_bytes()),
        1 => "[0-9]{0,25}|-[0-9]{1,5}|[0-9]+\\.[0-9]".prop_map(String::into_bytes),
    ];
    text.prop_map(|bytes| HeaderValue::from_bytes(&bytes).expect("only valid header bytes"))
}

/// Up to eight headers, names drawn from [`NAMES`] with repetition.
fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((0..NAMES.len(), header_value()), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(header_name(NAMES[name]), value);
        }
        map
    })
}

/// No query, one shaped like a token's (escapes, repeats, empty values), or any text.
fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        3 => "((token|t%6Fken|tok|x)(=[!-~&&[^&]]{0,60})?&?){0,4}".prop_map(Some),
        1 => any::<String>().prop_map(Some),
    ]
}

/// Mostly NOW; sometimes any instant the platform can represent.
fn instant() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        3 => Just(at(NOW)),
        1 => any::<u64>().prop_filter_map("beyond SystemTime", |secs| {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs))
        }),
    ]
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::try_from(name).expect("a valid header name")
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

proptest! {
    #[test]
    fn arbitrary_headers_queries_and_bodies_never_panic_and_never_verify(
        headers in headers(),
        query in query(),
        body in body(),
        now in instant(),
    ) {
        for route in config().routes.iter() {
            let result = verify(&route.verifier, (&headers, query.as_deref()), &body, now);
            prop_assert!(result.is_err(), "{} accepted {headers:?}", route.name);
        }
    }

    #[test]
    fn a_signed_body_verifies_and_a_changed_byte_or_a_repeated_header_does_not(
        body in proptest::collection::vec(any::<u8>(), 1..2048),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        for route in config().routes.iter() {
            let verifier = &route.verifier;
            let mut signed = HeaderMap::new();
            for (name, value) in verifier.sign(&body, at(NOW)) {
                signed.append(header_name(name), value.parse().unwrap());
            }
            let query = verifier.sign_query();
            let presented = (&signed, query.as_deref());
            prop_assert_eq!(verify(verifier, presented, &body, at(NOW)), Ok(()), "{}", route.name);

            let mut changed = body.clone();
            changed[index.index(body.len())] ^= flip;
            let result = verify(verifier, presented, &changed, at(NOW));
            // A token covers no body: only a signature notices the change.
            let noticed = if verifier.scheme() == "token" { Ok(()) } else { Err(VerifyError::Mismatch) };
            prop_assert_eq!(result, noticed, "{}", route.name);

            if let Some(query) = &query {
                let twice = format!("{query}&{query}");
                let result = verify(verifier, (&signed, Some(&twice)), &body, at(NOW));
                let refused = matches!(&result, Err(VerifyError::MalformedQuery { .. }));
                prop_assert!(refused, "{} query sent twice: {result:?}", route.name);
            }
            for (name, value) in &signed {
                let mut twice = signed.clone();
                twice.append(name.clone(), value.clone());
                let result = verify(verifier, (&twice, query.as_deref()), &body, at(NOW));
                let checked = matches!(&result, Err(VerifyError::Malformed { .. }));
                // Delivery ids are forwarded, not checked: a repeat changes nothing.
                prop_assert!(checked || result.is_ok(), "{} {name}: {result:?}", route.name);
            }
        }
    }

    #[test]
    fn one_hostile_value_among_signed_headers_never_panics(
        body in body(),
        replaced in 0..NAMES.len(),
        value in header_value(),
        query in query(),
    ) {
        for route in config().routes.iter() {
            let mut headers = HeaderMap::new();
            for (name, signed) in route.verifier.sign(&body, at(NOW)) {
                headers.append(header_name(name), signed.parse().unwrap());
            }
            headers.insert(header_name(NAMES[replaced]), value.clone());
            let _ = verify(&route.verifier, (&headers, query.as_deref()), &body, at(NOW));
        }
    }
}
