//! Chatwoot: `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>`.

use std::time::SystemTime;

use poem::http::HeaderMap;

use super::timestamp::{self, Timed};
use super::{VerifyError, header};

const SIGNATURE: &str = "X-Chatwoot-Signature";
const TIMESTAMP: &str = "X-Chatwoot-Timestamp";
pub(super) const DELIVERY: &str = "X-Chatwoot-Delivery";
const PREFIX: &str = "sha256=";
/// The headers a source sends, signature first (also what `sign` produces).
pub(super) const HEADERS: &[&str] = &[SIGNATURE, TIMESTAMP, DELIVERY];

/// The Chatwoot scheme with its keys and replay window.
pub type Chatwoot = Timed<ChatwootScheme>;

/// Marks [`Timed`] as the Chatwoot scheme.
#[derive(Debug)]
pub enum ChatwootScheme {}

impl Chatwoot {
    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let (signed_at_text, signed_at) = timestamp::read(headers, TIMESTAMP)?;
        let tag = header::prefixed_hex(headers, SIGNATURE, PREFIX, "expected sha256=<hex>")?;
        self.check_window_then_keys(
            signed_at,
            now,
            &[signed_at_text.as_bytes(), b".", body],
            &[tag],
        )
    }

    pub(super) fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(&'static str, String)> {
        let signed_at = timestamp::unix_seconds(now).to_string();
        let tag = self.keys().sign(&[signed_at.as_bytes(), b".", body]);
        vec![
            (SIGNATURE, format!("{PREFIX}{}", hex::encode(tag))),
            (TIMESTAMP, signed_at),
            (DELIVERY, uuid::Uuid::new_v4().to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::signature::{DEFAULT_TOLERANCE, HmacKeys};

    fn scheme() -> Chatwoot {
        Chatwoot::new(HmacKeys::new(&["secret"]).unwrap(), DEFAULT_TOLERANCE)
    }

    fn headers(signature: &str, ts: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE, signature.parse().unwrap());
        headers.insert(TIMESTAMP, ts.parse().unwrap());
        headers
    }

    #[test]
    fn a_signature_computed_independently_is_accepted() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let sig = "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686";
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_010);
        let result = scheme().verify(&headers(sig, "1700000000"), br#"{"a":1}"#, now);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_signature_without_its_prefix_is_malformed() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let result = scheme().verify(&headers(&"ab".repeat(32), "1700000000"), b"", now);
        assert!(
            matches!(result, Err(VerifyError::Malformed { .. })),
            "{result:?}"
        );
    }
}
