//! The serde shape of `routes.toml`: what an operator may write, nothing more.
//!
//! These types only describe the file. Every value is still a string the
//! operator typed; [`super::validate`] turns them into runtime types.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use crate::routes::Delivery;
use crate::signature::{Algorithm, Encoding};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The `[server]` table.
    #[serde(default)]
    pub server: RawServer,
    /// The `[routes.NAME]` tables, by route name.
    #[serde(default)]
    pub routes: BTreeMap<String, RawRoute>,
    /// The `[admin]` table; the admin API is off without a token.
    #[serde(default)]
    pub admin: RawAdmin,
    /// The `[store]` table: where queued events are kept.
    #[serde(default)]
    pub store: RawStore,
    /// The `[telemetry]` table: where traces are exported.
    #[serde(default)]
    pub telemetry: RawTelemetry,
}

/// `[telemetry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The OTLP/HTTP collector's base URL, e.g. `http://127.0.0.1:4318`;
    /// default `OTEL_EXPORTER_OTLP_ENDPOINT`, else no traces.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the spans; default `OTEL_SERVICE_NAME`, else `hookgate`.
    pub service_name: Option<String>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// The SQLite file of queued events; default `data/hookgate.db`.
    pub path: Option<String>,
    /// Where dedupe keys and queued events live: `embedded` (default: this
    /// process and the SQLite file) or `redis`.
    pub backend: Option<Backend>,
    /// The Redis URL, with `backend = "redis"` (may hold a password).
    pub url: Option<SecretString>,
    /// Prefix of every Redis key; default `hookgate:`.
    pub prefix: Option<String>,
    /// On Redis: how long a delivery may go unacknowledged before another
    /// instance reclaims the event; default `60s`.
    pub visibility_timeout: Option<String>,
    /// With `embedded`: the most bytes the event log's file may use; past
    /// it the oldest records go, whatever their route. Default 2 GiB.
    pub log_max_bytes: Option<u64>,
}

/// `[store] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Dedupe keys in this process, queued events in the SQLite file.
    #[default]
    Embedded,
    /// On a Redis shared by every instance.
    Redis,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Bearer token for `/admin/*`; absent or empty turns the admin API off.
    pub token: Option<SecretString>,
    /// The admin API's own listener (`ip:port`), or `public` for the
    /// public one; default `127.0.0.1:9180`.
    pub listen: Option<String>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Socket address of the public listener.
    pub listen: Option<String>,
    /// `production` (default) or `development`.
    pub environment: Option<Environment>,
    /// Default body limit for every route.
    pub max_body_bytes: Option<u64>,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: Option<String>,
    /// Worker threads, each with its own runtime and listener; default: one per core.
    pub workers: Option<u64>,
    /// Client connections open at once, all public listeners together.
    pub max_connections: Option<u64>,
    /// How long a client may take to send a request's head.
    pub header_timeout: Option<String>,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Option<String>,
    /// How long a write to a client may make no progress.
    pub write_timeout: Option<String>,
    /// Bytes of bodies not yet verified, all clients together.
    pub max_unverified_bytes: Option<u64>,
    /// Bodies one client address may be uploading at once.
    pub max_unverified_per_client: Option<u64>,
    /// Lets a reload remove every route; default `false`.
    pub allow_no_routes: Option<bool>,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Option<Vec<String>>,
}

/// Whether signatures are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Signatures are verified (the default: fail closed).
    #[default]
    Production,
    /// Signature checks are skipped, loudly.
    Development,
}

/// `[routes.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// The public path the source posts to.
    pub path: String,
    /// `false` answers 503 without calling the downstream.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The http(s) URL the raw body is forwarded to: one destination,
    /// named `default` (or use `[routes.NAME.destinations.*]`).
    pub downstream: Option<String>,
    /// `[routes.NAME.destinations.DEST]`: where events go, by name.
    pub destinations: Option<BTreeMap<String, RawDestination>>,
    /// Downstream request timeout, e.g. `"4s"`; each destination's default.
    pub timeout: Option<String>,
    /// Body limit for this route; overrides `[server] max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    /// Requests processed at once; beyond it the route answers 503 at once.
    pub max_in_flight: Option<u64>,
    /// The client addresses and networks allowed to post; default: any.
    pub allow_ips: Option<Vec<String>>,
    /// How long a failure streak lasts before the escalation is logged.
    pub alert_after: Option<String>,
    /// `sync` (default) or `queued`.
    pub delivery: Option<Delivery>,
    /// Deliveries of stored events in flight at once.
    pub concurrency: Option<u64>,
    /// Undelivered events kept at most; beyond it ingest answers 503.
    pub max_queued: Option<u64>,
    /// How long delivered events are kept; absent deletes them at once.
    pub retention: Option<String>,
    /// `[routes.NAME.retry]`.
    pub retry: Option<RawRetry>,
    /// Deliveries started at most per destination, `"20/s"` or `"600/m"`;
    /// each destination's default.
    pub rate_limit: Option<String>,
    /// `[routes.NAME.breaker]`: each destination's default.
    pub breaker: Option<RawBreaker>,
    /// `[routes.NAME.dedupe]`.
    pub dedupe: Option<RawDedupe>,
    /// `[routes.NAME.log]`.
    pub log: Option<RawLog>,
    /// `[routes.NAME.signature]`.
    pub signature: RawSignature,
}

/// `[routes.NAME.destinations.DEST]`: one downstream of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    /// The http(s) URL the raw body is forwarded to.
    pub url: String,
    /// On a sync route with several destinations: the one called while the
    /// source waits, whose answer is the source's.
    pub primary: Option<bool>,
    /// Request timeout; default the route's `timeout`.
    pub timeout: Option<String>,
    /// Conditions an event must meet to be sent here, by `json:/pointer`
    /// or `header:NAME`: a value, or a list of values any of which matches.
    pub filter: Option<BTreeMap<String, OneOrMany>>,
    /// Headers added to each request (values may hold secrets: never logged).
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// `{ scheme = "standard-webhooks", secret = "whsec_..." }`: the
    /// gateway signs each request with its own key.
    pub sign: Option<RawSign>,
    /// Deliveries in flight at once; default the route's `concurrency`.
    pub concurrency: Option<u64>,
    /// The retry schedule; default the route's `[retry]`.
    pub retry: Option<RawRetry>,
    /// Deliveries started at most; default the route's `rate_limit`.
    pub rate_limit: Option<String>,
    /// The circuit breaker; default the route's `[breaker]`, key by key.
    pub breaker: Option<RawBreaker>,
}

/// `sign`: how the gateway signs what it sends a destination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSign {
    /// The one scheme offered: `standard-webhooks`.
    pub scheme: SignScheme,
    /// The key: `whsec_` then base64 of 24 to 64 random bytes.
    pub secret: SecretString,
}

/// `sign.scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignScheme {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    StandardWebhooks,
}

/// `[routes.NAME.log]`: what the event log keeps of the route's requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `false` keeps no record of the route's requests at all.
    pub enabled: Option<bool>,
    /// Whether headers and verified bodies are kept (metadata always is).
    pub bodies: Option<bool>,
    /// How long records are kept, e.g. `"7d"`.
    pub retention: Option<String>,
    /// The most records kept for the route.
    pub max_events: Option<u64>,
    /// More headers stored redacted, besides signatures, `Authorization` and cookies.
    pub redact_headers: Option<Vec<String>>,
}

/// `[routes.NAME.dedupe]`: what identifies a delivery, and for how long.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedupe {
    /// `"header:NAME"`, `"json:/pointer"`, or a list of them joined in order.
    pub key: OneOrMany,
    /// How long a handled key is remembered, e.g. `"24h"`.
    pub ttl: Option<String>,
}

/// A single string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

/// `[routes.NAME.retry]`: the retry schedule of stored events.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included; then the event is a dead letter.
    pub max_attempts: Option<u64>,
    /// The wait after the first failed attempt, e.g. `"5s"`; doubles each time.
    pub initial_backoff: Option<String>,
    /// The longest wait between two attempts.
    pub max_backoff: Option<String>,
}

/// `[routes.NAME.breaker]`: when a destination is taken for down.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Failed attempts in a row that open the breaker.
    pub failures: Option<u64>,
    /// The wait before the first probe, e.g. `"10s"`; doubles after each failed probe.
    pub cooldown: Option<String>,
    /// The longest wait between two probes.
    pub max_cooldown: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// `[routes.NAME.signature]`, tagged by `scheme`. Each scheme's table
/// refuses the keys of another (`deny_unknown_fields` on each shape).
#[derive(Debug, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum RawSignature {
    /// No signature: anyone who knows the path may post.
    None(NoSecret),
    /// Chatwoot's `X-Chatwoot-Signature` over `"<timestamp>.<body>"`.
    Chatwoot(Timed),
    /// A generic HMAC of the raw body in one header.
    Hmac(Generic),
    /// `hmac` with `algorithm = "sha256"`, under its older name.
    HmacSha256(GenericSha256),
    /// GitHub's `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github(Keyed),
    /// Shopify's `X-Shopify-Hmac-Sha256: <base64>` over the body.
    Shopify(Keyed),
    /// Stripe's `Stripe-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`
    /// (the `whsec_` secret used as is).
    Stripe(Timed),
    /// Slack's `X-Slack-Signature: v0=<hex>` over `"v0:<timestamp>:<body>"`.
    Slack(Timed),
    /// Standard Webhooks (Svix and others): `webhook-signature: v1,<base64>`
    /// over `"<webhook-id>.<webhook-timestamp>.<body>"`; a `whsec_` prefix
    /// means base64 key bytes follow.
    StandardWebhooks(Timed),
    /// The shared secret itself, in a header or a query parameter, for a
    /// source that cannot sign: better than `none`, weaker than a signature.
    Token(SharedToken),
}

/// `scheme = "none"`: no keys at all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSecret {}

/// Where a scheme's secrets come from: set exactly one (in production).
#[derive(Debug, Clone, Copy)]
pub struct SecretSource<'a> {
    /// `secret`: one secret.
    pub secret: &'a Option<SecretString>,
    /// `secrets`: several during a rotation; any one may match.
    pub secrets: &'a Option<Vec<SecretString>>,
    /// `secret_file`: a file holding the secret (Docker or Kubernetes
    /// secrets), read at each load.
    pub secret_file: &'a Option<String>,
}

/// A scheme that takes secrets and nothing else (`github`, `shopify`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyed {
    secret: Option<SecretString>,
    secrets: Option<Vec<SecretString>>,
    secret_file: Option<String>,
}

/// A scheme that signs a timestamp: secrets and a replay window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timed {
    secret: Option<SecretString>,
    secrets: Option<Vec<SecretString>>,
    secret_file: Option<String>,
    /// Largest accepted clock difference, e.g. `"5m"`.
    pub tolerance: Option<String>,
}

/// The generic `hmac` scheme.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generic {
    secret: Option<SecretString>,
    secrets: Option<Vec<SecretString>>,
    secret_file: Option<String>,
    /// The header carrying the signature.
    pub header: String,
    /// `hex` (default) or `base64`.
    pub encoding: Option<Encoding>,
    /// A literal the header value starts with, e.g. `"sha256="`.
    pub prefix: Option<String>,
    /// The hash: `sha256` (default), `sha512`, or `sha1` for legacy sources.
    pub algorithm: Option<Algorithm>,
}

/// `hmac-sha256`: the generic scheme's older name, SHA-256 only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericSha256 {
    secret: Option<SecretString>,
    secrets: Option<Vec<SecretString>>,
    secret_file: Option<String>,
    /// The header carrying the signature.
    pub header: String,
    /// `hex` (default) or `base64`.
    pub encoding: Option<Encoding>,
    /// A literal the header value starts with, e.g. `"sha256="`.
    pub prefix: Option<String>,
}

/// `scheme = "token"`: the secret in one header or one query parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedToken {
    secret: Option<SecretString>,
    secrets: Option<Vec<SecretString>>,
    secret_file: Option<String>,
    /// The header carrying the token, e.g. `X-Webhook-Token`; with
    /// `Authorization`, after `Bearer `.
    pub header: Option<String>,
    /// The query parameter carrying the token, e.g. `token`.
    pub query: Option<String>,
}

/// The shapes that carry secrets.
macro_rules! secret_source {
    ($($shape:ty),*) => {$(
        impl $shape {
            /// Where this table's secrets come from.
            pub fn source(&self) -> SecretSource<'_> {
                SecretSource {
                    secret: &self.secret,
                    secrets: &self.secrets,
                    secret_file: &self.secret_file,
                }
            }
        }
    )*};
}
secret_source!(Keyed, Timed, Generic, GenericSha256, SharedToken);

impl RawSignature {
    /// Where the scheme's secrets come from; `None` for the scheme without any.
    pub fn source(&self) -> Option<SecretSource<'_>> {
        match self {
            RawSignature::None(_) => None,
            RawSignature::Github(keyed) | RawSignature::Shopify(keyed) => Some(keyed.source()),
            RawSignature::Chatwoot(timed)
            | RawSignature::Stripe(timed)
            | RawSignature::Slack(timed)
            | RawSignature::StandardWebhooks(timed) => Some(timed.source()),
            RawSignature::Hmac(generic) => Some(generic.source()),
            RawSignature::HmacSha256(generic) => Some(generic.source()),
            RawSignature::Token(token) => Some(token.source()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use figment::providers::Format;

    fn parse(toml: &str) -> Result<RawConfig, String> {
        figment::Figment::from(figment::providers::Toml::string(toml))
            .extract()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_signature_table_rejects_a_key_of_another_scheme() {
        let err = parse(
            r#"[routes.a]
path = "/a"
downstream = "http://x"
signature = { scheme = "chatwoot", secret = "s", header = "X" }"#,
        )
        .unwrap_err();
        assert!(err.contains("unknown field: found `header`"), "{err}");
    }

    #[test]
    fn an_unknown_scheme_is_rejected_with_the_known_ones_listed() {
        let err = parse(
            r#"[routes.a]
path = "/a"
downstream = "http://x"
signature = { scheme = "rot13" }"#,
        )
        .unwrap_err();
        assert!(err.contains("unknown variant: found `rot13`"), "{err}");
        assert!(err.contains("chatwoot"), "{err}");
    }
}
