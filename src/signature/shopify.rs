//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`, a
//! preset of the generic scheme. Shopify signs no timestamp; its
//! `X-Shopify-Webhook-Id` is the receiver's means to drop duplicates.

use super::{Encoding, GenericHmac, HmacKeys};

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";
const WEBHOOK_ID: &str = "X-Shopify-Webhook-Id";

impl GenericHmac {
    /// The Shopify scheme with `keys` (the app's client secret, HMAC-SHA256).
    pub fn shopify(keys: HmacKeys) -> Self {
        let form = (SIGNATURE, Encoding::Base64, "");
        GenericHmac::preset("shopify", keys, form, WEBHOOK_ID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::VerifyError;
    use crate::signature::testing::{
        assert_hostile_values_are_malformed, assert_malformed, headers,
    };
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const SECRET: &str = "shpss_test_secret";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@doe.ca"}"#;
    // printf '{"id":820982911946154508,"email":"jon@doe.ca"}' \
    //   | openssl dgst -sha256 -hmac shpss_test_secret -binary | base64
    const SIGNATURE_OF_BODY: &str = "ydL79GgFis+45WlpB77OS7dfcX+8t6iObguHVHAAEPc=";

    fn scheme(secrets: &[&str]) -> GenericHmac {
        GenericHmac::shopify(HmacKeys::new(secrets).unwrap())
    }

    fn verify(secrets: &[&str], signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        scheme(secrets).verify(&headers(&[(SIGNATURE, signature)]), body)
    }

    #[test]
    fn a_shopify_signature_computed_independently_is_accepted() {
        assert_eq!(verify(&[SECRET], SIGNATURE_OF_BODY, BODY), Ok(()));
    }

    #[test]
    fn a_tampered_shopify_body_is_a_mismatch() {
        let tampered = br#"{"id":820982911946154509,"email":"jon@doe.ca"}"#;
        assert_eq!(
            verify(&[SECRET], SIGNATURE_OF_BODY, tampered),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_shopify_signature_made_with_another_secret_is_a_mismatch() {
        assert_eq!(
            verify(&["shpss_other"], SIGNATURE_OF_BODY, BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn during_a_rotation_the_second_shopify_secret_matches() {
        assert_eq!(
            verify(&["shpss_new", SECRET], SIGNATURE_OF_BODY, BODY),
            Ok(())
        );
    }

    #[test]
    fn what_shopify_sign_produces_is_accepted() {
        let shopify = scheme(&[SECRET]);
        let signed = headers(&shopify.sign(BODY));
        assert_eq!(shopify.verify(&signed, BODY), Ok(()));
    }

    #[test]
    fn a_shopify_signature_in_hex_unpadded_or_truncated_is_malformed() {
        // The same digest in hex: valid base64 characters, but 48 bytes decoded.
        let hex = "c9d2fbf468058acfb8e5696907bece4bb75f717fbcb7a88e6e0b8754700010f7".to_string();
        let unpadded = SIGNATURE_OF_BODY.trim_end_matches('=').to_string();
        let truncated = STANDARD.encode([0u8; 16]);
        for value in [hex, unpadded, truncated, "not base64!".to_string()] {
            assert_malformed(verify(&[SECRET], &value, BODY));
        }
    }

    #[test]
    fn a_duplicated_oversized_or_non_ascii_shopify_header_is_malformed() {
        let valid = headers(&[(SIGNATURE, SIGNATURE_OF_BODY)]);
        assert_hostile_values_are_malformed(&valid, SIGNATURE, |h| {
            scheme(&[SECRET]).verify(h, BODY)
        });
    }
}
