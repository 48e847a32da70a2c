//! Traces with the built binary: `[telemetry] otlp_endpoint` points at an
//! OTLP/HTTP receiver of the test (a recording server whose bodies are
//! decoded with the official protobuf definitions). The gateway is stopped
//! with SIGTERM right after the request: the spans still queued must be
//! sent on the way out.

use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use support::*;

use crate::process::{Gateway, serve, write_config};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// A marker in the body: no attribute may carry it.
const BODY_MARKER: &str = "body-marker-7f3a";

/// A chatwoot route (sync unless `route_keys` says otherwise) to
/// `downstream`, traces to `collector`, its store in `dir`.
fn traced_config(
    downstream: &Downstream,
    collector: &Downstream,
    dir: &tempfile::TempDir,
    route_keys: &str,
) -> String {
    format!(
        "{}\n[store]\npath = \"{}\"\n\n[telemetry]\notlp_endpoint = \"http://{}\"\nservice_name = \"hookgate-under-test\"\n",
        chatwoot_config(&downstream.url("/hook"), route_keys),
        dir.path().join("hookgate.db").display(),
        collector.addr,
    )
}

/// Posts a signed event with a sampled `traceparent` and a secret-looking header.
async fn post_traced(addr: &str) -> reqwest::Response {
    let body = format!(r#"{{"event":"message_created","content":"{BODY_MARKER}"}}"#);
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{CHATWOOT_PATH}"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .header("authorization", format!("Bearer {SECRET}"));
    for (name, value) in chatwoot_headers(SECRET, now_secs(), body.as_bytes()) {
        request = request.header(name, value);
    }
    request.body(body).send().await.unwrap()
}

/// SIGTERM, then waits for the exit.
async fn stop(mut gateway: Gateway) {
    let pid = gateway.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || gateway.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Every span the collector was sent, with every string attribute value
/// (of spans and resources) beside them.
fn exported(collector: &Downstream) -> (Vec<Span>, Vec<String>) {
    let mut spans = Vec::new();
    let mut values = Vec::new();
    for request in collector.received() {
        assert_eq!(request.path, "/v1/traces");
        let export = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
        for resource_spans in export.resource_spans {
            let resource = resource_spans.resource.unwrap_or_default();
            values.extend(strings(&resource.attributes));
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    values.extend(strings(&span.attributes));
                    values.push(span.name.clone());
                    spans.push(span);
                }
            }
        }
    }
    (spans, values)
}

fn strings(attributes: &[KeyValue]) -> Vec<String> {
    attributes
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    let found = span.attributes.iter().find(|kv| kv.key == key)?;
    found
        .value
        .as_ref()
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attribute(span, key) {
        Some(any_value::Value::IntValue(i)) => *i,
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

fn of_kind(spans: &[Span], kind: SpanKind) -> Vec<&Span> {
    spans.iter().filter(|s| s.kind == kind as i32).collect()
}

fn no_secret_nor_body_in(values: &[String]) {
    for value in values {
        for forbidden in [SECRET, BODY_MARKER, "sha256="] {
            assert!(
                !value.contains(forbidden),
                "`{forbidden}` in attribute `{value}`"
            );
        }
    }
}

#[tokio::test]
async fn a_sync_request_exports_a_server_span_under_the_callers_and_a_client_span_the_downstream_joins()
 {
    let downstream = Downstream::start().await;
    let collector = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &traced_config(&downstream, &collector, &dir, ""));
    let (gateway, addr) = serve(&config);

    let response = post_traced(&addr).await;
    assert_eq!(response.status(), 200);
    stop(gateway).await;

    eventually("both spans reach the collector", || async {
        exported(&collector).0.len() >= 2
    })
    .await;
    let (spans, values) = exported(&collector);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let server = of_kind(&spans, SpanKind::Server);
    let client = of_kind(&spans, SpanKind::Client);
    assert_eq!((server.len(), client.len()), (1, 1), "{spans:?}");
    let (server, client) = (server[0], client[0]);
    assert_eq!(hex::encode(&server.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&server.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(string(server, "hookgate.route"), "chatwoot");
    assert_eq!(string(server, "hookgate.outcome"), "forwarded");
    assert_eq!(int(server, "http.response.status_code"), 200);
    let received = &downstream.received()[0];
    let event_id = received.headers["x-hookgate-event-id"].to_str().unwrap();
    assert_eq!(string(server, "hookgate.event_id"), event_id);
    assert_eq!(client.trace_id, server.trace_id);
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(string(client, "hookgate.event_id"), event_id);
    assert_eq!(int(client, "http.response.status_code"), 200);
    let forwarded = received.headers["traceparent"].to_str().unwrap();
    let client_span_id = hex::encode(&client.span_id);
    assert_eq!(forwarded, format!("00-{TRACE_ID}-{client_span_id}-01"));
    assert!(
        values.contains(&"hookgate-under-test".to_string()),
        "{values:?}"
    );
    no_secret_nor_body_in(&values);
}

#[tokio::test]
async fn each_delivery_attempt_of_a_queued_event_is_a_client_span_under_its_request() {
    let downstream = Downstream::start().await;
    downstream.answer_with(503);
    let collector = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys =
        "delivery = \"queued\"\nretry = { initial_backoff = \"100ms\", max_backoff = \"100ms\" }";
    let config = write_config(&dir, &traced_config(&downstream, &collector, &dir, keys));
    let (gateway, addr) = serve(&config);

    assert_eq!(post_traced(&addr).await.status(), 202);
    eventually("a failed attempt, then a delivery", || async {
        if downstream.received().len() == 1 {
            downstream.answer_with(200);
        }
        downstream.received().len() >= 2
    })
    .await;
    stop(gateway).await;

    eventually(
        "the request span and two attempts reach the collector",
        || async { exported(&collector).0.len() >= 3 },
    )
    .await;
    let (spans, values) = exported(&collector);
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(server.len(), 1, "{spans:?}");
    let server = server[0];
    assert_eq!(hex::encode(&server.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(string(server, "hookgate.outcome"), "queued");
    assert_eq!(int(server, "http.response.status_code"), 202);
    let attempts = of_kind(&spans, SpanKind::Client);
    assert_eq!(attempts.len(), 2, "{spans:?}");
    let event_id = string(server, "hookgate.event_id");
    let mut numbers = Vec::new();
    for attempt in attempts {
        assert_eq!(attempt.trace_id, server.trace_id);
        assert_eq!(attempt.parent_span_id, server.span_id);
        assert_eq!(string(attempt, "hookgate.event_id"), event_id);
        let number = int(attempt, "hookgate.attempt");
        let status = int(attempt, "http.response.status_code");
        assert_eq!(status, if number == 1 { 503 } else { 200 });
        // The downstream got this attempt's own span as its parent.
        let sent = &downstream.received()[number as usize - 1];
        let traceparent = sent.headers["traceparent"].to_str().unwrap();
        let span_id = hex::encode(&attempt.span_id);
        assert_eq!(traceparent, format!("00-{TRACE_ID}-{span_id}-01"));
        numbers.push(number);
    }
    numbers.sort();
    assert_eq!(numbers, [1, 2]);
    no_secret_nor_body_in(&values);
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

#[tokio::test]
async fn an_https_collector_is_spoken_to_in_tls() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_byte = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = first_byte.clone();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        if stream.read_exact(&mut byte).is_ok() {
            *seen.lock().unwrap() = Some(byte[0]);
        }
    });
    let (downstream, collector) = (Downstream::start().await, Downstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let text = traced_config(&downstream, &collector, &dir, "").replace(
        &format!("http://{}", collector.addr),
        &format!("https://127.0.0.1:{port}"),
    );
    let (gateway, addr) = serve(&write_config(&dir, &text));

    assert_eq!(post_traced(&addr).await.status(), 200);

    eventually("the exporter opened a TLS connection", || async {
        first_byte.lock().unwrap().is_some()
    })
    .await;
    stop(gateway).await;
    assert_eq!(
        *first_byte.lock().unwrap(),
        Some(TLS_HANDSHAKE),
        "not a TLS ClientHello"
    );
}
