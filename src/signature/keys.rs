//! HMAC keys prepared once at config load; never printed.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::schema::Environment;

/// One keyed HMAC-SHA256 state per configured secret, first secret first.
///
/// Keying happens at config load; a request clones the keyed state, which
/// skips the key schedule on the hot path.
#[derive(Clone)]
pub struct HmacKeys(Vec<Hmac<Sha256>>);

impl fmt::Debug for HmacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HmacKeys({} redacted)", self.0.len())
    }
}

impl HmacKeys {
    /// Keys from the given secrets; `None` if one is empty.
    pub fn new(secrets: &[&str]) -> Option<Self> {
        secrets
            .iter()
            .map(|s| (!s.is_empty()).then(|| keyed(s.as_bytes())))
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// True when no secret is configured (development only).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any key's HMAC over the concatenated `parts` equals `tag`,
    /// compared in constant time.
    pub fn any_matches(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.0
            .iter()
            .any(|key| mac_over(key, parts).verify_slice(tag).is_ok())
    }

    /// The HMAC over `parts` with the first key, empty when there is none.
    pub fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.0
            .first()
            .map(|key| mac_over(key, parts).finalize().into_bytes().to_vec())
            .unwrap_or_default()
    }
}

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn mac_over(key: &Hmac<Sha256>, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = key.clone();
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Keys from a route's `secret` / `secrets`; refuses an absent secret in production.
pub fn from_config(
    secret: &Option<String>,
    secrets: &Option<Vec<String>>,
    environment: Environment,
) -> Result<HmacKeys, (&'static str, String)> {
    let (field, list): (&'static str, Vec<&str>) = match (secret, secrets) {
        (Some(_), Some(_)) => {
            return Err(("secret", "set `secret` or `secrets`, not both".into()));
        }
        (Some(one), None) => ("secret", vec![one.as_str()]),
        (None, Some(many)) => ("secrets", many.iter().map(String::as_str).collect()),
        (None, None) => ("secret", Vec::new()),
    };
    if list.is_empty() && environment == Environment::Production {
        return Err((
            field,
            "a secret is required in production (set `secret` or `secrets`)".into(),
        ));
    }
    HmacKeys::new(&list).ok_or_else(|| (field, "a secret must not be empty".into()))
}
