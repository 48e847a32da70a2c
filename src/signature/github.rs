//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, a
//! preset of the generic scheme. GitHub signs no timestamp, so a captured
//! delivery can be replayed; its `X-GitHub-Delivery` id is the receiver's
//! means to drop duplicates.

use super::{Encoding, GenericHmac, HmacKeys};

const SIGNATURE: &str = "X-Hub-Signature-256";
const DELIVERY: &str = "X-GitHub-Delivery";
const PREFIX: &str = "sha256=";
/// The SHA-1 signature GitHub still sends beside the SHA-256 one: not
/// checked, but with the body it is a replayable pair, so never stored.
const LEGACY_SIGNATURE: &str = "X-Hub-Signature";

impl GenericHmac {
    /// The GitHub scheme with `keys` (HMAC-SHA256).
    pub fn github(keys: HmacKeys) -> Self {
        let form = (SIGNATURE, Encoding::Hex, PREFIX);
        GenericHmac::preset("github", keys, form, DELIVERY).also_signed_in(&[LEGACY_SIGNATURE])
    }
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderMap;

    use super::*;
    use crate::signature::VerifyError;
    use crate::signature::testing::{
        assert_hostile_values_are_malformed, assert_malformed, headers,
    };

    /// GitHub's documented test values ("Validating webhook deliveries").
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    // printf 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
    const SIGNATURE_OF_BODY: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn scheme(secrets: &[&str]) -> GenericHmac {
        GenericHmac::github(HmacKeys::new(secrets).unwrap())
    }

    #[test]
    fn githubs_published_example_is_accepted() {
        let result = scheme(&[SECRET]).verify(&headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]), BODY);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_tampered_github_body_is_a_mismatch() {
        let result = scheme(&[SECRET]).verify(
            &headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]),
            b"Hello, World?",
        );
        assert_eq!(result, Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_github_signature_made_with_another_secret_is_a_mismatch() {
        let result = scheme(&["not it"]).verify(&headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]), BODY);
        assert_eq!(result, Err(VerifyError::Mismatch));
    }

    #[test]
    fn during_a_rotation_the_second_github_secret_matches() {
        let result = scheme(&["the new one", SECRET])
            .verify(&headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]), BODY);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn what_github_sign_produces_is_accepted() {
        let github = scheme(&["s3cret"]);
        let signed = headers(&github.sign(BODY));
        assert_eq!(github.verify(&signed, BODY), Ok(()));
    }

    #[test]
    fn a_github_signature_without_its_prefix_or_in_the_sha1_form_is_malformed() {
        let digest = SIGNATURE_OF_BODY.trim_start_matches(PREFIX);
        let sha1 = "sha1=0123456789abcdef0123456789abcdef01234567".to_string();
        let short = format!("{PREFIX}{}", &digest[..62]);
        let not_hex = format!("{PREFIX}{}", "zz".repeat(32));
        for value in [digest.to_string(), sha1, short, not_hex] {
            let result = scheme(&[SECRET]).verify(&headers(&[(SIGNATURE, &value)]), BODY);
            assert_malformed(result);
        }
        assert_eq!(
            scheme(&[SECRET]).verify(&HeaderMap::new(), BODY),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
    }

    #[test]
    fn a_duplicated_oversized_or_non_ascii_github_header_is_malformed() {
        let valid = headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]);
        assert_hostile_values_are_malformed(&valid, SIGNATURE, |h| {
            scheme(&[SECRET]).verify(h, BODY)
        });
    }
}
