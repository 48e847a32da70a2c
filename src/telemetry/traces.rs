//! OpenTelemetry traces: a SERVER span per webhook request and a CLIENT
//! span per downstream call or delivery attempt, exported over OTLP/HTTP
//! in batches by the SDK's own thread, off the workers' runtimes.
//!
//! Spans are made with the OpenTelemetry API directly, not from `tracing`'s
//! spans: only the attributes named here are sent (route, event id,
//! outcome, statuses), never a header, a body or a log line. Without an
//! endpoint there is no [`Traces`] at all, and a request does no work for
//! traces beyond checking that.
//!
//! Propagation is W3C Trace Context: an incoming `traceparent` is the
//! request span's parent; the downstream gets the CLIENT span's, so its own
//! spans join the trace under the gateway's.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span,
};
use poem::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::config::TelemetrySettings;
use crate::routes::{Destination, Route};

/// Spans waiting for export at most; past it new ones are dropped rather
/// than requests slowed. The SDK's channel preallocates them (a few MiB).
const MAX_QUEUED_SPANS: usize = 16 * 1024;
/// Spans per OTLP request; a full batch is sent at once.
const EXPORT_BATCH: usize = 2 * 1024;
/// How often a partial batch goes out.
const EXPORT_EVERY: Duration = Duration::from_secs(1);
/// How long shutdown waits for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TracesError(String);

/// The tracer and its exporter; cloned into every worker (it is shared).
#[derive(Clone)]
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl fmt::Debug for Traces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traces").finish_non_exhaustive()
    }
}

impl Traces {
    /// The exporter of `settings`, or `None` when no endpoint is set.
    pub fn start(settings: &TelemetrySettings) -> Result<Option<Self>, TracesError> {
        let Some(endpoint) = &settings.traces_endpoint else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint.as_str())
            .build()
            .map_err(|e| TracesError(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(MAX_QUEUED_SPANS)
            .with_max_export_batch_size(EXPORT_BATCH)
            .with_scheduled_delay(EXPORT_EVERY)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("hookgate");
        tracing::info!(%endpoint, service = %settings.service_name, "exporting traces");
        Ok(Some(Self {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        }))
    }

    /// The SERVER span of a request to `route`, continuing the trace of
    /// the incoming `traceparent` if any.
    pub fn request(&self, route: &Route, incoming: &HeaderMap) -> RequestSpan<'_> {
        let parent = self.propagator.extract(&Headers(incoming));
        let span = (self.tracer)
            .span_builder(format!("POST {}", route.path))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("hookgate.route", route.name.clone()),
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", route.path.clone()),
            ])
            .start_with_context(&self.tracer, &parent);
        RequestSpan {
            traces: self,
            cx: parent.with_span(span),
        }
    }

    /// The CLIENT span of a call to `route`'s downstream for `event_id`,
    /// child of the span whose `traceparent` is in `headers` (the request's,
    /// stored with a queued event), or a root span when there is none.
    pub fn delivery(
        &self,
        route: &Route,
        destination: &Destination,
        event_id: &str,
        headers: &HeaderMap,
    ) -> ClientSpan {
        let parent = self.propagator.extract(&Headers(headers));
        self.client(route, destination, event_id, &parent)
    }

    fn client(
        &self,
        route: &Route,
        destination: &Destination,
        event_id: &str,
        parent: &Context,
    ) -> ClientSpan {
        let downstream = &destination.url;
        let mut attributes = vec![
            KeyValue::new("hookgate.route", route.name.clone()),
            KeyValue::new("hookgate.event_id", event_id.to_string()),
            KeyValue::new("http.request.method", "POST"),
        ];
        // The host and port only: the path or query may hold a token.
        if let Some(host) = downstream.host_str() {
            attributes.push(KeyValue::new("server.address", host.to_string()));
        }
        if let Some(port) = downstream.port_or_known_default() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        let span = (self.tracer)
            .span_builder("POST")
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, parent);
        ClientSpan {
            span,
            propagator: self.propagator.clone(),
        }
    }

    /// Sends the spans still queued and stops the exporter; blocks for at
    /// most a few seconds.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "the last spans may not have been exported");
        }
    }
}

/// A request's SERVER span (in its context), ended by [`RequestSpan::finish`].
pub struct RequestSpan<'a> {
    traces: &'a Traces,
    cx: Context,
}

impl RequestSpan<'_> {
    /// The CLIENT span of the sync forward of `event_id` to `destination`,
    /// child of this one.
    pub fn forward(&self, route: &Route, destination: &Destination, event_id: &str) -> ClientSpan {
        self.traces.client(route, destination, event_id, &self.cx)
    }

    /// `headers` with this span as their `traceparent`: what a queued event
    /// is stored with, so that its delivery attempts are its children.
    pub fn stored_headers(&self, headers: &HeaderMap) -> HeaderMap {
        let mut headers = headers.clone();
        (self.traces.propagator).inject_context(&self.cx, &mut HeadersMut(&mut headers));
        headers
    }

    /// Ends the span: answered `status` with `outcome`, for the event
    /// `event_id` when one was made.
    pub fn finish(self, status: StatusCode, outcome: &'static str, event_id: Option<&str>) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        span.set_attribute(KeyValue::new("hookgate.outcome", outcome));
        if let Some(id) = event_id {
            span.set_attribute(KeyValue::new("hookgate.event_id", id.to_string()));
        }
        // A refusal (4xx) is the gateway working; only its own failure is an error.
        if status.is_server_error() {
            span.set_status(Status::error(outcome));
        }
        span.end();
    }
}

/// A downstream call's CLIENT span, ended by [`ClientSpan::finish`] (or when dropped).
pub struct ClientSpan {
    span: Span,
    propagator: TraceContextPropagator,
}

impl ClientSpan {
    /// Sets `traceparent` (and `tracestate`) of `headers` to this span's,
    /// replacing the source's: the downstream's spans become its children.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let cx = Context::new().with_remote_span_context(self.span.span_context().clone());
        self.propagator
            .inject_context(&cx, &mut HeadersMut(headers));
    }

    /// Ends the span: the downstream answered `status`, or `error` (a
    /// short kind, never its answer) when it did not answer with a 2xx.
    pub fn finish(
        mut self,
        attempt: Option<u32>,
        status: Option<StatusCode>,
        error: Option<&'static str>,
    ) {
        let span = &mut self.span;
        if let Some(attempt) = attempt {
            span.set_attribute(KeyValue::new("hookgate.attempt", i64::from(attempt)));
        }
        if let Some(status) = status {
            let code = i64::from(status.as_u16());
            span.set_attribute(KeyValue::new("http.response.status_code", code));
        }
        if let Some(kind) = error {
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(Status::Error {
                description: Cow::Borrowed(kind),
            });
        }
        span.end();
    }
}

/// Incoming headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Outgoing headers as the propagator writes them.
struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(name) = HeaderName::try_from(key) else {
            return;
        };
        // An empty `tracestate`: the trace has none, not even the source's.
        match HeaderValue::try_from(value) {
            Ok(value) if !value.is_empty() => {
                self.0.insert(name, value);
            }
            _ => {
                self.0.remove(name);
            }
        }
    }
}
