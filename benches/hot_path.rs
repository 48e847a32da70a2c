//! Micro-benchmarks of the per-request work that is ours: signature
//! verification per scheme over a ~2 KB body, route lookup, and a
//! destination's filter on a JSON field.
//!
//! Run with `cargo bench --bench hot_path`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::Path;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use hookgate::config;
use hookgate::signature::UnverifiedBody;
use poem::http::HeaderMap;

const SCHEMES: &[(&str, &str)] = &[
    ("chatwoot", r#"scheme = "chatwoot""#),
    ("github", r#"scheme = "github""#),
    ("shopify", r#"scheme = "shopify""#),
    ("stripe", r#"scheme = "stripe""#),
    ("slack", r#"scheme = "slack""#),
    ("standard-webhooks", r#"scheme = "standard-webhooks""#),
    (
        "hmac-sha512",
        "scheme = \"hmac\"\nheader = \"X-Signature\"\nalgorithm = \"sha512\"",
    ),
];

fn config_with_routes(count: usize) -> String {
    let mut text = String::new();
    for (index, (name, scheme)) in SCHEMES.iter().cycle().take(count).enumerate() {
        text.push_str(&format!(
            "[routes.r{index}]\npath = \"/hooks/{name}/{index}\"\ndownstream = \"http://127.0.0.1:9/\"\n\
             [routes.r{index}.signature]\n{scheme}\nsecret = \"bench-secret\"\n"
        ));
    }
    text
}

fn verification(c: &mut Criterion) {
    let text = config_with_routes(SCHEMES.len());
    let config =
        config::from_text(&text, Path::new("bench.toml"), &config::Vars::default()).unwrap();
    let body = std::fs::read("bench/payload.json").unwrap();
    let now = SystemTime::now();
    let mut group = c.benchmark_group("verify");
    for (index, (name, _)) in SCHEMES.iter().enumerate() {
        let route = config.routes.by_name(&format!("r{index}")).unwrap();
        let mut headers = HeaderMap::new();
        for (header, value) in route.verifier.sign(&body, now) {
            headers.insert(
                poem::http::HeaderName::try_from(header).unwrap(),
                value.parse().unwrap(),
            );
        }
        group.bench_function(*name, |b| {
            b.iter(|| {
                let unverified = UnverifiedBody::new(bytes::Bytes::copy_from_slice(&body));
                route.verifier.verify(&headers, unverified, now).unwrap()
            })
        });
    }
    group.finish();
}

fn route_lookup(c: &mut Criterion) {
    let text = config_with_routes(50);
    let config =
        config::from_text(&text, Path::new("bench.toml"), &config::Vars::default()).unwrap();
    // The lookup a request makes: on the live snapshot.
    let live = hookgate::live::Live::new(config);
    let snapshot = live.load();
    c.bench_function("route lookup among 50", |b| {
        b.iter(|| snapshot.by_path("/hooks/stripe/38").is_some())
    });
}

/// A destination filter on a JSON field of the ~2 KB payload: the
/// destinations an event goes to, as a sync request works them out.
fn filter(c: &mut Criterion) {
    let text = "[routes.r]\npath = \"/r\"\nsignature = { scheme = \"none\" }\n\
                [routes.r.destinations.a]\nurl = \"http://127.0.0.1:9/\"\n\
                filter = { \"json:/event\" = [\"message_created\", \"message_updated\"] }\n";
    let config =
        config::from_text(text, Path::new("bench.toml"), &config::Vars::default()).unwrap();
    let route = config.routes.by_name("r").unwrap();
    let body = std::fs::read("bench/payload.json").unwrap();
    let headers = HeaderMap::new();
    c.bench_function("filter on json:/event", |b| {
        b.iter(|| assert_eq!(route.wanting(&headers, &body).len(), 1))
    });
}

criterion_group!(benches, verification, route_lookup, filter);
criterion_main!(benches);
