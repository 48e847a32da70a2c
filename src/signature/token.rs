//! `token`: the shared secret itself, in a header or a query parameter, for
//! sources that cannot sign (Chatwoot before v4.11.2 for account webhooks
//! and v4.13.0 for API inboxes and agent bots, among others).
//!
//! A token only proves that the sender knows it: it covers neither the body
//! nor the time, so whoever sees one request can replay it or send another
//! body. It still beats `none`, where knowing the path is enough. Tokens are
//! compared as SHA-256 digests, so the time a comparison takes shows neither
//! a token's content nor its length.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use poem::http::header::AUTHORIZATION;
use poem::http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{Presented, VerifyError, header};

/// The longest token a route may be configured with; a header value is
/// refused past 1 KiB, `Bearer ` included.
pub const MAX_TOKEN_LEN: usize = 1000;

/// A query value longer than any configured token cannot match: refused as such.
const MAX_QUERY_VALUE_LEN: usize = 1024;

/// Headers a token may not travel in: the hop-by-hop ones a proxy may drop
/// or rewrite, and the ones the gateway sets itself or logs (the request
/// id). The forwarder's own list lives above this module; this is its
/// subset that a source could be configured to send.
const RESERVED: &[(&str, &str)] = &[
    ("connection", "a hop-by-hop header"),
    ("keep-alive", "a hop-by-hop header"),
    ("proxy-connection", "a hop-by-hop header"),
    ("proxy-authorization", "a hop-by-hop header"),
    ("proxy-authenticate", "a hop-by-hop header"),
    ("te", "a hop-by-hop header"),
    ("trailer", "a hop-by-hop header"),
    ("transfer-encoding", "a hop-by-hop header"),
    ("upgrade", "a hop-by-hop header"),
    ("host", "a hop-by-hop header"),
    ("content-length", "a hop-by-hop header"),
    ("expect", "a hop-by-hop header"),
    ("x-request-id", "logged with every request"),
    ("forwarded", "set by the gateway"),
    ("x-real-ip", "set by the gateway"),
];

/// What a query value is written with in [`Token::sign_query`]: everything
/// but the characters RFC 3986 leaves unreserved is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a route's token travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier {
    /// A request header; `Authorization` holds `Bearer <token>`, any other
    /// header the token alone.
    Header(HeaderName),
    /// A query parameter of the request's URI.
    Query(String),
}

impl Carrier {
    /// The header `name`, unless it is not a valid name or cannot carry a
    /// secret; the error says why.
    pub fn header(name: &str) -> Result<Self, String> {
        let parsed = HeaderName::try_from(name)
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let reserved = RESERVED.iter().find(|(reserved, _)| parsed == *reserved);
        let gateway_owned = ["x-forwarded-", "x-hookgate-"]
            .iter()
            .any(|prefix| parsed.as_str().starts_with(prefix));
        match (reserved, gateway_owned) {
            (Some((_, why)), _) => Err(format!("`{name}` is {why}: it cannot carry a token")),
            (None, true) => Err(format!(
                "`{name}` is set by the gateway: it cannot carry a token"
            )),
            (None, false) => Ok(Self::Header(parsed)),
        }
    }

    /// The query parameter `name`, unless it is empty.
    pub fn query(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err("a query parameter name must be non-empty text".into());
        }
        Ok(Self::Query(name.to_string()))
    }
}

/// The `token` scheme: where the token travels, and the digests of the
/// configured tokens, first first.
pub struct Token {
    carrier: Carrier,
    /// Kept only so that [`Token::sign`] can write what a source sends.
    first: Option<SecretString>,
    digests: Vec<[u8; 32]>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.digests.len();
        write!(f, "Token({:?}, {count} redacted)", self.carrier)
    }
}

impl Token {
    /// The scheme with `tokens` (several during a rotation) in `carrier`;
    /// the error, which never quotes a token, says what one cannot be.
    pub fn new(carrier: Carrier, tokens: &[&str]) -> Result<Self, &'static str> {
        for token in tokens {
            check_token(&carrier, token)?;
        }
        Ok(Self {
            first: tokens.first().map(|t| SecretString::from(*t)),
            digests: tokens.iter().map(|t| digest(t.as_bytes())).collect(),
            carrier,
        })
    }

    /// Whether a token is configured (not in development without one).
    pub fn has_secret(&self) -> bool {
        !self.digests.is_empty()
    }

    pub(super) fn verify(&self, presented: Presented<'_>) -> Result<(), VerifyError> {
        let token = match &self.carrier {
            Carrier::Header(name) => Cow::Borrowed(from_header(presented.headers, name)?),
            Carrier::Query(name) => from_query(presented.query, name)?,
        };
        let digest = digest(token.as_bytes());
        // Every digest is compared, matching or not: no early exit to time.
        let matched = (self.digests.iter()).fold(Choice::from(0), |any, configured| {
            any | configured[..].ct_eq(&digest[..])
        });
        if matched.into() {
            Ok(())
        } else {
            Err(VerifyError::TokenMismatch)
        }
    }

    /// The header a source sends, with the first token; none for a token
    /// in the query (see [`Self::sign_query`]).
    pub(super) fn sign(&self) -> Vec<(&str, String)> {
        match (&self.carrier, &self.first) {
            (Carrier::Header(name), Some(first)) => {
                let token = first.expose_secret();
                let value = if name == AUTHORIZATION {
                    format!("Bearer {token}")
                } else {
                    token.to_string()
                };
                vec![(name.as_str(), value)]
            }
            _ => Vec::new(),
        }
    }

    /// `name=value` with the first token, percent-encoded, for a token in
    /// the query.
    pub(super) fn sign_query(&self) -> Option<String> {
        match (&self.carrier, &self.first) {
            (Carrier::Query(name), Some(first)) => Some(format!(
                "{}={}",
                utf8_percent_encode(name, QUERY_VALUE),
                utf8_percent_encode(first.expose_secret(), QUERY_VALUE)
            )),
            _ => None,
        }
    }

    /// The header the token travels in, if it does.
    pub(super) fn header(&self) -> Option<&HeaderName> {
        match &self.carrier {
            Carrier::Header(name) => Some(name),
            Carrier::Query(_) => None,
        }
    }

    /// The query parameter the token travels in, if it does.
    pub(super) fn query(&self) -> Option<&str> {
        match &self.carrier {
            Carrier::Query(name) => Some(name),
            Carrier::Header(_) => None,
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Refuses a token that could never arrive intact where it is to travel.
fn check_token(carrier: &Carrier, token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("a token must not be empty");
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err("a token must be at most 1000 bytes");
    }
    // A header value is read as ASCII and trimmed (see `header::single`).
    let fits_a_header = token.bytes().all(|b| (b' '..=b'~').contains(&b))
        && !token.starts_with(' ')
        && !token.ends_with(' ');
    if matches!(carrier, Carrier::Header(_)) && !fits_a_header {
        return Err("a token sent in a header must be printable ASCII, without spaces at its ends");
    }
    Ok(())
}

/// The token in header `name`: sent once, readable, after `Bearer ` in
/// `Authorization`.
fn from_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, VerifyError> {
    let value = header::single(headers, name.as_str()).map_err(|error| match error {
        VerifyError::MissingHeader(_) => VerifyError::MissingToken(format!("header {name}")),
        other => other,
    })?;
    if name != AUTHORIZATION {
        return Ok(value);
    }
    bearer(value).ok_or_else(|| VerifyError::Malformed {
        header: name.to_string(),
        reason: "expected Bearer <token>",
    })
}

/// The credentials of `Bearer <token>`; the scheme's name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The token in query parameter `name`, percent-decoded; a `+` is a `+`
/// (the source sends the URL it was given, no form encoding).
fn from_query<'q>(query: Option<&'q str>, name: &str) -> Result<Cow<'q, str>, VerifyError> {
    let malformed = |reason| VerifyError::MalformedQuery {
        parameter: name.to_string(),
        reason,
    };
    let mut values = query.unwrap_or_default().split('&').filter_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decoded(key) == name).then_some(value)
    });
    let value = values
        .next()
        .ok_or_else(|| VerifyError::MissingToken(format!("query parameter {name}")))?;
    if values.next().is_some() {
        return Err(malformed("sent more than once"));
    }
    if value.len() > MAX_QUERY_VALUE_LEN {
        return Err(malformed("too long"));
    }
    if value.is_empty() {
        return Err(malformed("empty"));
    }
    Ok(decoded(value))
}

/// `text` with its `%XX` escapes decoded; bytes that are not UTF-8 become
/// U+FFFD, which no configured token can match.
fn decoded(text: &str) -> Cow<'_, str> {
    percent_decode_str(text).decode_utf8_lossy()
}

#[cfg(test)]
mod tests;
