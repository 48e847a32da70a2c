//! Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::HeaderMap;

use super::timestamp::{self, Timed};
use super::{HmacKeys, VerifyError, header};

pub(super) const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
const VERSION: &str = "v1";
const SECRET_PREFIX: &str = "whsec_";
/// The headers a source sends, signature first (also what `sign` produces).
pub(super) const HEADERS: &[&str] = &[ID, TIMESTAMP, SIGNATURE];

/// The Standard Webhooks scheme (Svix, Resend, Supabase and others) with
/// its keys (see [`HmacKeys::from_bytes`] for decoded `whsec_` secrets) and
/// replay window.
pub type StandardWebhooks = Timed<StandardWebhooksScheme>;

/// Marks [`Timed`] as the Standard Webhooks scheme.
#[derive(Debug)]
pub enum StandardWebhooksScheme {}

impl StandardWebhooks {
    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let id = header::single(headers, ID)?;
        let (signed_at_text, signed_at) = timestamp::read(headers, TIMESTAMP)?;
        let tags = parse(header::single(headers, SIGNATURE)?)?;
        self.check_window_then_keys(
            signed_at,
            now,
            &signed_content(id, signed_at_text, body),
            &tags,
        )
    }

    pub(super) fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(&'static str, String)> {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let signed_at = timestamp::unix_seconds(now).to_string();
        let tag = self.keys().sign(&signed_content(&id, &signed_at, body));
        vec![
            (ID, id),
            (TIMESTAMP, signed_at),
            (SIGNATURE, format!("{VERSION},{}", STANDARD.encode(tag))),
        ]
    }
}

/// The gateway's own Standard Webhooks key: it signs what the gateway sends
/// a destination, whatever the source's scheme was.
#[derive(Debug)]
pub struct Signer {
    keys: HmacKeys,
}

impl Signer {
    /// A signer with `secret`, which must be a `whsec_` key (the error
    /// never quotes it).
    pub fn new(secret: &str) -> Result<Self, String> {
        if !secret.starts_with(SECRET_PREFIX) {
            return Err(format!(
                "must be `{SECRET_PREFIX}` then the base64 of 24 to 64 random bytes"
            ));
        }
        let key = decode_secret(secret)?;
        let keys = HmacKeys::from_bytes(&[key]).ok_or("the key is empty")?;
        Ok(Self { keys })
    }

    /// The three headers that sign `body` as message `id` at `now`.
    pub fn headers(&self, id: &str, body: &[u8], now: SystemTime) -> [(&'static str, String); 3] {
        let signed_at = timestamp::unix_seconds(now).to_string();
        let tag = self.keys.sign(&signed_content(id, &signed_at, body));
        [
            (ID, id.to_string()),
            (TIMESTAMP, signed_at),
            (SIGNATURE, format!("{VERSION},{}", STANDARD.encode(tag))),
        ]
    }
}

/// The fewest key bytes a `whsec_` secret may decode to (the
/// specification's keys are 24 to 64 bytes): lax decoders elsewhere turned
/// broken keys into empty or weak ones.
const MIN_KEY_BYTES: usize = 24;

/// The key bytes of a configured secret: base64 after a `whsec_` prefix,
/// else the text itself. The error never quotes the secret.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
        return Ok(secret.as_bytes().to_vec());
    };
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| format!("the part after `{SECRET_PREFIX}` is not valid base64"))?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the part after `{SECRET_PREFIX}` decodes to {} bytes; at least {MIN_KEY_BYTES} are needed",
            key.len()
        ));
    }
    Ok(key)
}

/// What is signed: `<id>.<timestamp>.<body>`.
fn signed_content<'a>(id: &'a str, signed_at: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [id.as_bytes(), b".", signed_at.as_bytes(), b".", body]
}

/// Every valid `v1` tag of a `webhook-signature` value. Other versions
/// (such as the asymmetric `v1a`) are skipped, and so is an entry that does
/// not decode to a SHA-256 tag: as in the reference libraries, one broken
/// entry does not void a valid one beside it.
fn parse(value: &str) -> Result<Vec<header::Digest>, VerifyError> {
    let tags: Vec<header::Digest> = (value.split_ascii_whitespace())
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, digest)| header::base64_digest(SIGNATURE, digest, header::SHA256_LEN).ok())
        .collect();
    if tags.is_empty() {
        return Err(VerifyError::Malformed {
            header: SIGNATURE.to_string(),
            reason: "no valid v1 signature",
        });
    }
    Ok(tags)
}

#[cfg(test)]
mod tests;
