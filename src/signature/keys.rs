//! HMAC keys prepared once at config load; never printed.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use serde::Deserialize;

use super::VerifyError;

/// The hash of an HMAC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
    /// HMAC-SHA1: weak, only for legacy sources that sign no other way.
    Sha1,
}

/// One keyed HMAC state per configured secret, first secret first, all of
/// one [`Algorithm`].
///
/// Keying happens at config load; a request clones the keyed state, which
/// skips the key schedule on the hot path.
#[derive(Clone)]
pub struct HmacKeys {
    algorithm: Algorithm,
    keys: Vec<Keyed>,
}

/// A keyed state of one of the supported hashes; the generic helpers below
/// do the work, this only picks the type.
#[derive(Clone)]
enum Keyed {
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
    Sha1(Hmac<Sha1>),
}

impl fmt::Debug for HmacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HmacKeys({:?}, {} redacted)",
            self.algorithm,
            self.keys.len()
        )
    }
}

impl HmacKeys {
    /// HMAC-SHA256 keys from the given secrets; `None` if one is empty.
    pub fn new(secrets: &[&str]) -> Option<Self> {
        Self::from_bytes(secrets)
    }

    /// HMAC-SHA256 keys from raw key bytes, e.g. a decoded `whsec_` secret;
    /// `None` if one is empty.
    pub fn from_bytes<K: AsRef<[u8]>>(secrets: &[K]) -> Option<Self> {
        Self::with_algorithm(Algorithm::Sha256, secrets)
    }

    /// Keys of `algorithm` from raw key bytes; `None` if one is empty.
    pub fn with_algorithm<K: AsRef<[u8]>>(algorithm: Algorithm, secrets: &[K]) -> Option<Self> {
        let keys = secrets
            .iter()
            .map(|s| (!s.as_ref().is_empty()).then(|| Keyed::new(algorithm, s.as_ref())))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { algorithm, keys })
    }

    /// True when no secret is configured (development only).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes in one tag of these keys' algorithm.
    pub fn tag_len(&self) -> usize {
        match self.algorithm {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
            Algorithm::Sha1 => 20,
        }
    }

    /// Whether any key's HMAC over the concatenated `parts` equals one of
    /// `tags`, compared in constant time.
    ///
    /// Each key hashes `parts` once, however many tags a header carries.
    pub fn any_matches<T: AsRef<[u8]>>(&self, parts: &[&[u8]], tags: &[T]) -> bool {
        self.keys.iter().any(|key| key.any_matches(parts, tags))
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
        self.keys
            .first()
            .map(|key| key.sign(parts))
            .unwrap_or_default()
    }
}

impl Keyed {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(keyed(secret)),
            Algorithm::Sha512 => Self::Sha512(keyed(secret)),
            Algorithm::Sha1 => Self::Sha1(keyed(secret)),
        }
    }

    fn any_matches<T: AsRef<[u8]>>(&self, parts: &[&[u8]], tags: &[T]) -> bool {
        match self {
            Self::Sha256(key) => any_tag_matches(key, parts, tags),
            Self::Sha512(key) => any_tag_matches(key, parts, tags),
            Self::Sha1(key) => any_tag_matches(key, parts, tags),
        }
    }

    fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha256(key) => tag(key, parts),
            Self::Sha512(key) => tag(key, parts),
            Self::Sha1(key) => tag(key, parts),
        }
    }
}

fn keyed<M: KeyInit>(secret: &[u8]) -> M {
    // HMAC accepts keys of any length, so this cannot fail.
    M::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn mac_over<M: Mac + Clone>(key: &M, parts: &[&[u8]]) -> M {
    let mut mac = key.clone();
    for part in parts {
        mac.update(part);
    }
    mac
}

/// `verify_slice` is the one comparison: constant-time, and it refuses a
/// tag of the wrong length.
fn any_tag_matches<M: Mac + Clone, T: AsRef<[u8]>>(key: &M, parts: &[&[u8]], tags: &[T]) -> bool {
    let mac = mac_over(key, parts);
    tags.iter()
        .any(|tag| mac.clone().verify_slice(tag.as_ref()).is_ok())
}

fn tag<M: Mac + Clone>(key: &M, parts: &[&[u8]]) -> Vec<u8> {
    mac_over(key, parts).finalize().into_bytes().to_vec()
}
