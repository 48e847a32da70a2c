//! The header rules of a forward: end-to-end headers kept, hop-by-hop ones
//! dropped, the gateway's own added.

use std::net::IpAddr;

use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one hop, not the event (RFC 9110 §7.6.1), plus the
/// ones the client computes itself, and `Expect`, which asked this hop for
/// a `100 Continue` the gateway already gave.
static HOP_BY_HOP: [HeaderName; 12] = [
    header::EXPECT,
    header::CONNECTION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// `X-Hookgate-Event-Id`: the event's id (a UUIDv7), the same on every
/// attempt and replay, so the downstream can drop what it has seen.
pub static EVENT_ID: HeaderName = HeaderName::from_static("x-hookgate-event-id");
/// The `X-Request-Id` header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static HOOKGATE_ROUTE: HeaderName = HeaderName::from_static("x-hookgate-route");

/// Who sent the request to the gateway, for the `X-Forwarded-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// Whether the gateway's own listener spoke TLS.
    pub tls: bool,
}

/// The source's end-to-end headers, less hop-by-hop ones, plus the gateway's own.
pub fn outgoing_headers(
    incoming: &HeaderMap,
    peer: Peer,
    request_id: &HeaderValue,
    route: &HeaderValue,
) -> HeaderMap {
    let named_by_connection = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        let hop = HOP_BY_HOP.contains(name) || named_by_connection.contains(name);
        if !hop && !is_set_by_the_gateway(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(value) = forwarded_for(incoming, peer.ip) {
        out.insert(FORWARDED_FOR.clone(), value);
    }
    // From the listener: a client's claim of https on a plain connection
    // is not passed on (no proxy in front is trusted to say so). The
    // client's X-Forwarded-For chain is kept, the peer appended, as usual.
    let proto = if peer.tls { "https" } else { "http" };
    out.insert(FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    out.insert(REQUEST_ID.clone(), request_id.clone());
    out.insert(HOOKGATE_ROUTE.clone(), route.clone());
    out
}

/// Headers only the gateway writes, and the other forms of a proxy's claims
/// about the original request (scheme, host, port, client): what a client
/// sends under these names never reaches the downstream, which may trust
/// any of them (Rack reads `X-Forwarded-Ssl` and `Forwarded` before
/// `X-Forwarded-Proto`). `X-Forwarded-For` is rebuilt, not dropped.
fn is_set_by_the_gateway(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-forwarded-")
        || name.starts_with("x-hookgate-")
        || matches!(
            name,
            "forwarded" | "x-real-ip" | "x-url-scheme" | "front-end-https"
        )
}

/// Header names listed in `Connection`, which are hop-by-hop too.
fn connection_tokens(incoming: &HeaderMap) -> Vec<HeaderName> {
    incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect()
}

/// The incoming chain, if any, with the peer's address appended.
fn forwarded_for(incoming: &HeaderMap, ip: Option<IpAddr>) -> Option<HeaderValue> {
    let previous: Vec<&str> = incoming
        .get_all(&FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut chain = previous.join(", ");
    if let Some(ip) = ip {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&ip.to_string());
    }
    HeaderValue::try_from(chain).ok().filter(|v| !v.is_empty())
}
