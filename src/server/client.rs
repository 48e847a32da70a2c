//! Who the client is: the peer, or, when the peer is a trusted proxy, the
//! address that proxy reports, walking `X-Forwarded-For` from the right
//! past every trusted proxy (nginx's `real_ip_recursive`). Only a trusted
//! proxy's `X-Forwarded-Proto` is believed.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;
use poem::http::HeaderMap;

/// The client as the gateway believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The immediate peer's address.
    pub peer: Option<IpAddr>,
    /// The client's address; `None` when a trusted proxy's chain cannot be read.
    pub ip: Option<IpAddr>,
    /// Whether the client spoke https (to the gateway, or to a trusted proxy).
    pub https: bool,
}

/// The client of `request`, given the `trusted` proxies.
pub fn of(request: &Request, trusted: &[IpNet]) -> Client {
    let peer = request.remote_addr().as_socket_addr().map(|a| a.ip());
    let tls = request.scheme() == &poem::http::uri::Scheme::HTTPS;
    identify(peer, tls, request.headers(), trusted)
}

/// The client behind `peer` (spoke TLS: `tls`) that sent `headers`.
fn identify(peer: Option<IpAddr>, tls: bool, headers: &HeaderMap, trusted: &[IpNet]) -> Client {
    let behind_proxy = peer.is_some_and(|ip| is_trusted(ip, trusted));
    if !behind_proxy {
        return Client {
            peer,
            ip: peer,
            https: tls,
        };
    }
    Client {
        peer,
        ip: forwarded_client(headers, trusted, peer),
        https: tls || forwarded_https(headers),
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The rightmost address of `X-Forwarded-For` that is not a trusted proxy;
/// `peer` when every hop is one; `None` when an entry does not parse.
fn forwarded_client(
    headers: &HeaderMap,
    trusted: &[IpNet],
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    let mut client = peer;
    for hop in values.iter().flat_map(|v| v.split(',')).rev() {
        let ip = hop.trim().parse::<IpAddr>().ok()?;
        client = Some(ip);
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// The last proxy's `X-Forwarded-Proto` says https.
fn forwarded_https(headers: &HeaderMap) -> bool {
    let last = headers.get_all("x-forwarded-proto").iter().next_back();
    let proto = last.and_then(|v| v.to_str().ok()).unwrap_or_default();
    proto
        .rsplit(',')
        .next()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, headers: &[(&str, &str)]) -> Client {
        let headers: HeaderMap = headers
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect();
        identify(ip(peer), false, &headers, &trusted())
    }

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_direct_client_is_its_peer_and_its_forwarded_headers_are_ignored() {
        let headers = [
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-proto", "https"),
        ];
        let client = from("198.51.100.9", &headers);
        assert_eq!(client.ip, ip("198.51.100.9"));
        assert!(!client.https);
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_first_untrusted_hop_from_the_right() {
        let chain = "203.0.113.5, 192.0.2.1, 10.0.0.7";
        let headers = [("x-forwarded-for", chain), ("x-forwarded-proto", "https")];
        let client = from("10.0.0.2", &headers);
        // 203.0.113.5 could be forged by 192.0.2.1, the first hop not trusted.
        assert_eq!(client.ip, ip("192.0.2.1"));
        assert_eq!(client.peer, ip("10.0.0.2"));
        assert!(client.https);
    }

    #[test]
    fn an_unreadable_chain_leaves_the_client_unknown() {
        let headers = [("x-forwarded-for", "not-an-address")];
        let client = from("10.0.0.2", &headers);
        assert_eq!(client.ip, None);
    }
}
