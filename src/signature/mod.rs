//! Signature verification: one file per scheme behind [`Verifier`].
//!
//! A handler holds an [`UnverifiedBody`]; only [`Verifier::verify`] (or the
//! explicit development bypass) turns it into the [`VerifiedBody`] that the
//! forwarder accepts, so an unchecked body cannot reach a downstream by mistake.

mod chatwoot;
mod generic_hmac;
mod github;
mod header;
mod keys;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
#[cfg(test)]
mod testing;
mod timestamp;
mod token;

use std::time::SystemTime;

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderName};

pub use chatwoot::Chatwoot;
pub use generic_hmac::{Encoding, GenericHmac};
pub use keys::{Algorithm, HmacKeys};
pub use slack::Slack;
pub use standard_webhooks::{
    Signer, StandardWebhooks, decode_secret as decode_standard_webhooks_secret,
};
pub use stripe::Stripe;
pub use timestamp::{DEFAULT_TOLERANCE, unix_seconds};
pub use token::{Carrier, Token};

/// The signature check of one route.
#[derive(Debug)]
pub enum Verifier {
    /// Accepts every request.
    None,
    /// `X-Chatwoot-Signature` over `"<X-Chatwoot-Timestamp>.<body>"`.
    Chatwoot(Chatwoot),
    /// An HMAC (SHA-256, SHA-512 or SHA-1) of the body in one header: the
    /// generic scheme, or its GitHub (`X-Hub-Signature-256: sha256=<hex>`)
    /// and Shopify (`X-Shopify-Hmac-Sha256: <base64>`) presets.
    Hmac(GenericHmac),
    /// `Stripe-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`.
    Stripe(Stripe),
    /// `X-Slack-Signature: v0=<hex>` over `"v0:<timestamp>:<body>"`.
    Slack(Slack),
    /// `webhook-signature: v1,<base64>` over `"<id>.<timestamp>.<body>"`.
    StandardWebhooks(StandardWebhooks),
    /// The shared secret itself in a header or a query parameter, for
    /// sources that cannot sign.
    Token(Token),
}

/// Why a request's signature was refused. Never carries an expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is absent.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// The header is present but cannot be read.
    #[error("malformed header {header}: {reason}")]
    Malformed {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signed timestamp is older than the tolerance.
    #[error("timestamp is outside the tolerance (too old)")]
    Stale,
    /// The signed timestamp is further in the future than the tolerance.
    #[error("timestamp is outside the tolerance (in the future)")]
    Future,
    /// No secret produces the given signature.
    #[error("signature does not match")]
    Mismatch,
    /// The route's token is absent; says where it was expected.
    #[error("missing token in {0}")]
    MissingToken(String),
    /// The query parameter carrying the token cannot be read.
    #[error("malformed query parameter {parameter}: {reason}")]
    MalformedQuery {
        /// The parameter's name.
        parameter: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token presented is none of the route's.
    #[error("token mismatch")]
    TokenMismatch,
}

/// What a request presents to its route's check: its headers and its query
/// string, where a `token` may travel.
///
/// Deliberately not `Debug`: it may hold a token.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    headers: &'a HeaderMap,
    query: Option<&'a str>,
}

impl<'a> Presented<'a> {
    /// The request's headers and the query of its URI, if any.
    pub fn new(headers: &'a HeaderMap, query: Option<&'a str>) -> Self {
        Self { headers, query }
    }
}

/// Headers alone: all that the signing schemes read.
impl<'a> From<&'a HeaderMap> for Presented<'a> {
    fn from(headers: &'a HeaderMap) -> Self {
        Self::new(headers, None)
    }
}

/// A request body whose signature has not been checked.
#[derive(Debug)]
pub struct UnverifiedBody(Bytes);

impl UnverifiedBody {
    /// Wraps the raw bytes as read from the wire.
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

/// A request body that passed its route's signature check.
#[derive(Debug, Clone)]
pub struct VerifiedBody(Bytes);

impl VerifiedBody {
    /// The exact bytes the source sent.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// A body read back from the queue store. Only for bodies that were
    /// verified before they were stored: the store is written only from a
    /// [`crate::forward::Outbound`], which only a `VerifiedBody` makes.
    pub(crate) fn from_store(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl Verifier {
    /// Checks what the request presents (its headers, and its query for a
    /// token in the query) and `body` at time `now`.
    ///
    /// ```
    /// use hookgate::signature::{Chatwoot, HmacKeys, UnverifiedBody, Verifier};
    /// use poem::http::{HeaderMap, HeaderName};
    /// use std::time::{Duration, SystemTime};
    ///
    /// let keys = HmacKeys::new(&["s3cret"]).unwrap();
    /// let verifier = Verifier::Chatwoot(Chatwoot::new(keys, Duration::from_secs(300)));
    /// let now = SystemTime::now();
    /// let body = br#"{"event":"message_created"}"#;
    /// let mut headers = HeaderMap::new();
    /// for (name, value) in verifier.sign(body, now) {
    ///     let name = HeaderName::try_from(name).unwrap();
    ///     headers.insert(name, value.parse().unwrap());
    /// }
    /// let verified = verifier.verify(&headers, UnverifiedBody::new(body.to_vec().into()), now);
    /// assert!(verified.is_ok());
    /// ```
    pub fn verify<'a>(
        &self,
        presented: impl Into<Presented<'a>>,
        body: UnverifiedBody,
        now: SystemTime,
    ) -> Result<VerifiedBody, VerifyError> {
        let presented = presented.into();
        let headers = presented.headers;
        match self {
            Verifier::None => Ok(()),
            Verifier::Chatwoot(scheme) => scheme.verify(headers, &body.0, now),
            Verifier::Hmac(scheme) => scheme.verify(headers, &body.0),
            Verifier::Stripe(scheme) => scheme.verify(headers, &body.0, now),
            Verifier::Slack(scheme) => scheme.verify(headers, &body.0, now),
            Verifier::StandardWebhooks(scheme) => scheme.verify(headers, &body.0, now),
            Verifier::Token(scheme) => scheme.verify(presented),
        }?;
        Ok(VerifiedBody(body.0))
    }

    /// Lets a body through unchecked: only for `environment = "development"`.
    pub fn bypass_in_development(body: UnverifiedBody) -> VerifiedBody {
        VerifiedBody(body.0)
    }

    /// The headers the route's source would send with `body` at `now`,
    /// signed with the first secret (a token in the query: see
    /// [`Self::sign_query`]).
    pub fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(&str, String)> {
        match self {
            Verifier::None => Vec::new(),
            Verifier::Chatwoot(scheme) => scheme.sign(body, now),
            Verifier::Hmac(scheme) => scheme.sign(body),
            Verifier::Stripe(scheme) => scheme.sign(body, now),
            Verifier::Slack(scheme) => scheme.sign(body, now),
            Verifier::StandardWebhooks(scheme) => scheme.sign(body, now),
            Verifier::Token(scheme) => scheme.sign(),
        }
    }

    /// For a token in the query: the `name=value` (percent-encoded, first
    /// secret) a source adds to the route's URL.
    pub fn sign_query(&self) -> Option<String> {
        self.token().and_then(Token::sign_query)
    }

    /// Removes from `headers` what must go no further than the check: a
    /// token header is the secret itself, so it is neither forwarded, nor
    /// stored with a queued event, nor read by dedupe. Signatures stay: a
    /// downstream may verify them again, and they reveal no secret.
    pub fn remove_secret_headers(&self, headers: &mut HeaderMap) {
        if let Some(name) = self.token().and_then(Token::header) {
            headers.remove(name);
        }
    }

    /// The scheme's name as written in `routes.toml`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Verifier::None => "none",
            Verifier::Chatwoot(_) => "chatwoot",
            Verifier::Hmac(scheme) => scheme.name(),
            Verifier::Stripe(_) => "stripe",
            Verifier::Slack(_) => "slack",
            Verifier::StandardWebhooks(_) => "standard-webhooks",
            Verifier::Token(_) => "token",
        }
    }

    /// The scheme's HMAC keys; `None` for the schemes without any.
    pub fn keys(&self) -> Option<&HmacKeys> {
        match self {
            Verifier::None | Verifier::Token(_) => None,
            Verifier::Chatwoot(scheme) => Some(scheme.keys()),
            Verifier::Hmac(scheme) => Some(scheme.keys()),
            Verifier::Stripe(scheme) => Some(scheme.keys()),
            Verifier::Slack(scheme) => Some(scheme.keys()),
            Verifier::StandardWebhooks(scheme) => Some(scheme.keys()),
        }
    }

    /// True when a secret is configured (in development there may be none).
    pub fn has_secret(&self) -> bool {
        match self {
            Verifier::Token(scheme) => scheme.has_secret(),
            _ => self.keys().is_some_and(|keys| !keys.is_empty()),
        }
    }

    /// The headers the scheme reads (and [`Self::sign`] writes), signature first.
    pub fn headers(&self) -> Vec<&str> {
        match self {
            Verifier::None => Vec::new(),
            Verifier::Chatwoot(_) => chatwoot::HEADERS.to_vec(),
            Verifier::Hmac(scheme) => scheme.headers(),
            Verifier::Stripe(_) => stripe::HEADERS.to_vec(),
            Verifier::Slack(_) => slack::HEADERS.to_vec(),
            Verifier::StandardWebhooks(_) => standard_webhooks::HEADERS.to_vec(),
            Verifier::Token(scheme) => scheme
                .header()
                .map(HeaderName::as_str)
                .into_iter()
                .collect(),
        }
    }

    /// Headers that carry a signature of the body, whether the scheme
    /// checks them or not: what the event log must not keep.
    pub fn signature_headers(&self) -> Vec<&str> {
        let mut headers = self.headers();
        if let Verifier::Hmac(scheme) = self {
            headers.extend(scheme.unchecked());
        }
        headers
    }

    /// The header in which the scheme's source sends a delivery id of its
    /// own (signed by nothing; what a receiver dedupes on), if it has one.
    pub fn delivery_header(&self) -> Option<&'static str> {
        match self {
            Verifier::Chatwoot(_) => Some(chatwoot::DELIVERY),
            Verifier::Hmac(scheme) => scheme.delivery(),
            Verifier::StandardWebhooks(_) => Some(standard_webhooks::ID),
            _ => None,
        }
    }

    /// The query parameter the scheme reads: a token's, if it travels there.
    pub fn query(&self) -> Option<&str> {
        self.token().and_then(Token::query)
    }

    fn token(&self) -> Option<&Token> {
        match self {
            Verifier::Token(scheme) => Some(scheme),
            _ => None,
        }
    }
}
