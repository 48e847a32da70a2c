//! Generic HMAC (SHA-256, SHA-512 or legacy SHA-1) of the raw body, in a configured header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

use poem::http::{HeaderMap, HeaderName};
use serde::Deserialize;

use super::{HmacKeys, VerifyError, header};

/// How a digest is written in a header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lower- or upper-case hexadecimal.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// The generic scheme: `<header>: <prefix><hex or base64 HMAC(secret, body)>`,
/// the hash being the keys' algorithm. GitHub and Shopify are presets of it.
#[derive(Debug)]
pub struct GenericHmac {
    /// `hmac`, `hmac-sha256` (the older name), or a preset's name.
    name: &'static str,
    keys: HmacKeys,
    header: Cow<'static, str>,
    encoding: Encoding,
    prefix: Cow<'static, str>,
    /// A header with the delivery's own id that the source sends along
    /// (signed by nothing, but what a receiver dedupes on).
    delivery: Option<&'static str>,
    /// Other signatures of the body the source sends along, not checked
    /// (GitHub's SHA-1 one): never kept in the event log.
    unchecked: &'static [&'static str],
}

impl GenericHmac {
    /// `<header>: <prefix><digest>` with `keys`; `name` is the scheme's
    /// name as written in `routes.toml`.
    pub fn new(
        name: &'static str,
        keys: HmacKeys,
        header: HeaderName,
        encoding: Encoding,
        prefix: String,
    ) -> Self {
        Self {
            name,
            keys,
            header: Cow::Owned(header.as_str().to_string()),
            encoding,
            prefix: Cow::Owned(prefix),
            delivery: None,
            unchecked: &[],
        }
    }

    /// A source's fixed form of the scheme, e.g. [`Self::github`].
    pub(super) fn preset(
        name: &'static str,
        keys: HmacKeys,
        (header, encoding, prefix): (&'static str, Encoding, &'static str),
        delivery: &'static str,
    ) -> Self {
        Self {
            name,
            keys,
            header: Cow::Borrowed(header),
            encoding,
            prefix: Cow::Borrowed(prefix),
            delivery: Some(delivery),
            unchecked: &[],
        }
    }

    /// This scheme, with `headers` as other signatures the source sends.
    pub(super) fn also_signed_in(mut self, headers: &'static [&'static str]) -> Self {
        self.unchecked = headers;
        self
    }

    /// Other signatures of the body that the source sends, not checked.
    pub(super) fn unchecked(&self) -> &[&'static str] {
        self.unchecked
    }

    /// The headers it reads, and [`Self::sign`] writes: the signature first.
    pub(super) fn headers(&self) -> Vec<&str> {
        std::iter::once(self.header.as_ref())
            .chain(self.delivery)
            .collect()
    }

    pub(super) fn delivery(&self) -> Option<&'static str> {
        self.delivery
    }

    pub(super) fn name(&self) -> &'static str {
        self.name
    }

    pub(super) fn keys(&self) -> &HmacKeys {
        &self.keys
    }

    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        let value = header::single(headers, &self.header)?;
        let digest =
            value
                .strip_prefix(self.prefix.as_ref())
                .ok_or_else(|| VerifyError::Malformed {
                    header: self.header.to_string(),
                    reason: "missing the expected prefix",
                })?;
        let len = self.keys.tag_len();
        let tag = match self.encoding {
            Encoding::Hex => header::hex_digest(&self.header, digest, len)?,
            Encoding::Base64 => header::base64_digest(&self.header, digest, len)?,
        };
        self.keys.check(&[body], &[tag])
    }

    pub(super) fn sign(&self, body: &[u8]) -> Vec<(&str, String)> {
        let tag = self.keys.sign(&[body]);
        let digest = match self.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => STANDARD.encode(tag),
        };
        let signature = (self.header.as_ref(), format!("{}{digest}", self.prefix));
        let id = self
            .delivery
            .map(|name| (name, uuid::Uuid::new_v4().to_string()));
        std::iter::once(signature).chain(id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Algorithm;
    use crate::signature::testing::{
        assert_hostile_values_are_malformed, assert_malformed, headers,
    };

    const SECRET: &str = "legacy-secret";
    const HEADER: &str = "x-signature";
    const BODY: &[u8] = br#"{"ref":"refs/heads/main","after":"9fceb02"}"#;
    // printf '%s' "$BODY" | openssl dgst -sha256 -hmac legacy-secret
    const SHA256_HEX: &str = "558515ab081b04737910eb55a38c57391fc1365abc78d3eb8fb54805cee0c4a0";
    // printf '%s' "$BODY" | openssl dgst -sha512 -hmac legacy-secret -binary | base64
    const SHA512_BASE64: &str =
        "pox+jZw50sRxge2VyIITOoNBXj7bQ9ruym3cajE8+8wKw/dqRcLFShFTKlB0q3vlXKFc+7Ropnh4UF2e3/z9Vg==";
    // printf '%s' "$BODY" | openssl dgst -sha1 -hmac legacy-secret
    const SHA1_HEX: &str = "f5beb88512acb665d44dc0175d4e9cd03c72cfce";

    fn scheme(
        algorithm: Algorithm,
        encoding: Encoding,
        prefix: &str,
        secrets: &[&str],
    ) -> GenericHmac {
        let keys = HmacKeys::with_algorithm(algorithm, secrets).unwrap();
        let header = HeaderName::from_static(HEADER);
        GenericHmac::new("hmac", keys, header, encoding, prefix.to_string())
    }

    fn verify(scheme: &GenericHmac, value: &str, body: &[u8]) -> Result<(), VerifyError> {
        scheme.verify(&headers(&[(HEADER, value)]), body)
    }

    /// One scheme per algorithm, each with the independently computed signature of BODY.
    fn each_algorithm(secrets: &[&str]) -> [(GenericHmac, String); 3] {
        [
            (
                scheme(Algorithm::Sha256, Encoding::Hex, "", secrets),
                SHA256_HEX.to_string(),
            ),
            (
                scheme(Algorithm::Sha512, Encoding::Base64, "", secrets),
                SHA512_BASE64.to_string(),
            ),
            (
                scheme(Algorithm::Sha1, Encoding::Hex, "sha1=", secrets),
                format!("sha1={SHA1_HEX}"),
            ),
        ]
    }

    #[test]
    fn signatures_computed_independently_are_accepted_for_every_algorithm() {
        for (scheme, value) in each_algorithm(&[SECRET]) {
            assert_eq!(verify(&scheme, &value, BODY), Ok(()), "{value}");
        }
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_a_mismatch_for_every_algorithm() {
        for (scheme, value) in each_algorithm(&[SECRET]) {
            assert_eq!(verify(&scheme, &value, b"{}"), Err(VerifyError::Mismatch));
        }
        for (scheme, value) in each_algorithm(&["not it"]) {
            assert_eq!(verify(&scheme, &value, BODY), Err(VerifyError::Mismatch));
        }
    }

    #[test]
    fn during_a_rotation_the_second_secret_matches_for_every_algorithm() {
        for (scheme, value) in each_algorithm(&["the new one", SECRET]) {
            assert_eq!(verify(&scheme, &value, BODY), Ok(()), "{value}");
        }
    }

    #[test]
    fn what_sign_produces_is_accepted_for_every_algorithm() {
        for (scheme, _) in each_algorithm(&[SECRET]) {
            let signed = headers(&scheme.sign(BODY));
            assert_eq!(scheme.verify(&signed, BODY), Ok(()));
        }
    }

    #[test]
    fn a_digest_of_another_algorithms_length_is_malformed() {
        let sha256 = scheme(Algorithm::Sha256, Encoding::Hex, "", &[SECRET]);
        assert_malformed(verify(&sha256, SHA1_HEX, BODY));
        let sha1 = scheme(Algorithm::Sha1, Encoding::Hex, "", &[SECRET]);
        assert_malformed(verify(&sha1, SHA256_HEX, BODY));
        let sha512 = scheme(Algorithm::Sha512, Encoding::Base64, "", &[SECRET]);
        assert_malformed(verify(&sha512, &STANDARD.encode([0u8; 32]), BODY));
    }

    #[test]
    fn a_signature_without_the_configured_prefix_or_in_the_wrong_encoding_is_malformed() {
        let prefixed = scheme(Algorithm::Sha1, Encoding::Hex, "sha1=", &[SECRET]);
        assert_malformed(verify(&prefixed, SHA1_HEX, BODY));
        let base64 = scheme(Algorithm::Sha256, Encoding::Base64, "", &[SECRET]);
        assert_malformed(verify(&base64, SHA256_HEX, BODY));
    }

    #[test]
    fn a_duplicated_oversized_or_non_ascii_header_is_malformed() {
        for (scheme, value) in each_algorithm(&[SECRET]) {
            let valid = headers(&[(HEADER, value)]);
            assert_hostile_values_are_malformed(&valid, HEADER, |h| scheme.verify(h, BODY));
        }
    }
}
