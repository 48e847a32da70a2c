//! HMAC keys prepared once at config load; never printed.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{FieldProblem, VerifyError};
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
        Self::from_bytes(secrets)
    }

    /// Keys from raw key bytes, e.g. a decoded `whsec_` secret; `None` if one is empty.
    pub fn from_bytes<K: AsRef<[u8]>>(secrets: &[K]) -> Option<Self> {
        secrets
            .iter()
            .map(|s| (!s.as_ref().is_empty()).then(|| keyed(s.as_ref())))
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// True when no secret is configured (development only).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any key's HMAC over the concatenated `parts` equals one of
    /// `tags`, compared in constant time.
    ///
    /// Each key hashes `parts` once, however many tags a header carries.
    pub fn any_matches<T: AsRef<[u8]>>(&self, parts: &[&[u8]], tags: &[T]) -> bool {
        self.0.iter().any(|key| {
            let mac = mac_over(key, parts);
            tags.iter()
                .any(|tag| mac.clone().verify_slice(tag.as_ref()).is_ok())
        })
    }

    /// [`Self::any_matches`] as a verdict: [`VerifyError::Mismatch`] when none does.
    pub fn check<T: AsRef<[u8]>>(&self, parts: &[&[u8]], tags: &[T]) -> Result<(), VerifyError> {
        if self.any_matches(parts, tags) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
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
) -> Result<HmacKeys, FieldProblem> {
    decoded_from_config(secret, secrets, environment, |s| Ok(s.as_bytes().to_vec()))
}

/// Like [`from_config`], with each secret turned into key bytes by `decode`,
/// whose error is reported against the field (it must not quote the secret).
pub fn decoded_from_config(
    secret: &Option<String>,
    secrets: &Option<Vec<String>>,
    environment: Environment,
    decode: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<HmacKeys, FieldProblem> {
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
    let bytes = list
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| (field, message))?;
    HmacKeys::from_bytes(&bytes).ok_or_else(|| (field, "a secret must not be empty".into()))
}
