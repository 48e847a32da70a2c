//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]`.

use std::time::SystemTime;

use poem::http::HeaderMap;

use super::timestamp::{self, Timed};
use super::{VerifyError, header};

const SIGNATURE: &str = "Stripe-Signature";
/// The headers a source sends, signature first (also what `sign` produces).
pub(super) const HEADERS: &[&str] = &[SIGNATURE];

/// The Stripe scheme with its keys (the endpoint's `whsec_...` secret, used
/// as is) and replay window.
pub type Stripe = Timed<StripeScheme>;

/// Marks [`Timed`] as the Stripe scheme.
#[derive(Debug)]
pub enum StripeScheme {}

impl Stripe {
    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let (signed_at_text, tags) = parse(header::single(headers, SIGNATURE)?)?;
        let signed_at = timestamp::parse(SIGNATURE, signed_at_text)?;
        self.check_window_then_keys(
            signed_at,
            now,
            &[signed_at_text.as_bytes(), b".", body],
            &tags,
        )
    }

    pub(super) fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(&'static str, String)> {
        let signed_at = timestamp::unix_seconds(now).to_string();
        let tag = self.keys().sign(&[signed_at.as_bytes(), b".", body]);
        vec![(SIGNATURE, format!("t={signed_at},v1={}", hex::encode(tag)))]
    }
}

/// The timestamp text and every valid `v1` tag of a `Stripe-Signature` value.
///
/// Other entries (`v0`, later schemes) are skipped, as Stripe asks, and so
/// is a `v1` that does not decode to a SHA-256 tag: like Stripe's own
/// libraries, one broken entry does not void a valid one beside it.
fn parse(value: &str) -> Result<(&str, Vec<header::Digest>), VerifyError> {
    let malformed = |reason| VerifyError::Malformed {
        header: SIGNATURE.to_string(),
        reason,
    };
    let mut signed_at = None;
    let mut tags = Vec::new();
    for entry in value.split(',') {
        let (key, text) = entry
            .split_once('=')
            .ok_or_else(|| malformed("expected t=<unix>,v1=<hex>"))?;
        match key {
            "t" if signed_at.is_some() => return Err(malformed("more than one t")),
            "t" => signed_at = Some(text),
            "v1" => tags.extend(header::hex_digest(SIGNATURE, text, header::SHA256_LEN).ok()),
            _ => {}
        }
    }
    let signed_at = signed_at.ok_or_else(|| malformed("no t timestamp"))?;
    if tags.is_empty() {
        return Err(malformed("no valid v1 signature"));
    }
    Ok((signed_at, tags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::testing::{
        assert_hostile_values_are_malformed, assert_malformed, at, headers,
    };
    use crate::signature::{DEFAULT_TOLERANCE, HmacKeys};

    const SECRET: &str = "whsec_test_secret";
    const SIGNED_AT: u64 = 1_492_774_577;
    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
    // printf '1492774577.{"id":"evt_test_webhook","object":"event"}' \
    //   | openssl dgst -sha256 -hmac whsec_test_secret
    const V1: &str = "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a";
    // The same with -hmac whsec_old_secret.
    const V1_OLD_SECRET: &str = "aed64a3c4c277a17c2a83b486f08da11442d772bc6e44361371cabce6d56f8af";

    fn verify_at(secrets: &[&str], value: &str, body: &[u8], now: u64) -> Result<(), VerifyError> {
        let stripe = Stripe::new(HmacKeys::new(secrets).unwrap(), DEFAULT_TOLERANCE);
        stripe.verify(&headers(&[(SIGNATURE, value)]), body, at(now))
    }

    fn verify(secrets: &[&str], value: &str, body: &[u8]) -> Result<(), VerifyError> {
        verify_at(secrets, value, body, SIGNED_AT + 10)
    }

    #[test]
    fn a_stripe_signature_computed_independently_is_accepted() {
        let value = format!("t={SIGNED_AT},v1={V1}");
        assert_eq!(verify(&[SECRET], &value, BODY), Ok(()));
    }

    #[test]
    fn a_stripe_header_with_two_v1_entries_matches_either() {
        for value in [
            format!("t={SIGNED_AT},v1={V1_OLD_SECRET},v1={V1}"),
            format!("t={SIGNED_AT},v1={V1},v1={V1_OLD_SECRET}"),
        ] {
            assert_eq!(verify(&[SECRET], &value, BODY), Ok(()), "{value}");
        }
    }

    #[test]
    fn a_broken_v1_entry_beside_a_valid_one_does_not_void_it() {
        for value in [
            format!("t={SIGNED_AT},v1=abcd,v1={V1}"),
            format!("t={SIGNED_AT},v1={V1},v1={}", "zz".repeat(32)),
            format!("t={SIGNED_AT},v1={},v1={V1}", &V1[..62]),
        ] {
            assert_eq!(verify(&[SECRET], &value, BODY), Ok(()), "{value}");
        }
    }

    #[test]
    fn a_stripe_v0_entry_is_ignored_and_cannot_stand_in_for_v1() {
        let with_v0 = format!("t={SIGNED_AT},v1={V1},v0={V1_OLD_SECRET}");
        assert_eq!(verify(&[SECRET], &with_v0, BODY), Ok(()));
        let only_v0 = format!("t={SIGNED_AT},v0={V1}");
        assert_malformed(verify(&[SECRET], &only_v0, BODY));
    }

    #[test]
    fn a_tampered_stripe_body_or_timestamp_is_a_mismatch() {
        let value = format!("t={SIGNED_AT},v1={V1}");
        let tampered = br#"{"id":"evt_test_webhook","object":"charge"}"#;
        assert_eq!(
            verify(&[SECRET], &value, tampered),
            Err(VerifyError::Mismatch)
        );
        let moved = format!("t={},v1={V1}", SIGNED_AT + 1);
        assert_eq!(verify(&[SECRET], &moved, BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_stripe_signature_made_with_another_secret_is_a_mismatch() {
        let value = format!("t={SIGNED_AT},v1={V1}");
        assert_eq!(
            verify(&["whsec_other"], &value, BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn during_a_rotation_the_second_stripe_secret_matches() {
        let value = format!("t={SIGNED_AT},v1={V1}");
        assert_eq!(verify(&["whsec_new", SECRET], &value, BODY), Ok(()));
    }

    #[test]
    fn a_stripe_timestamp_past_the_tolerance_is_stale_or_future() {
        let value = format!("t={SIGNED_AT},v1={V1}");
        let stale = verify_at(&[SECRET], &value, BODY, SIGNED_AT + 301);
        assert_eq!(stale, Err(VerifyError::Stale));
        let future = verify_at(&[SECRET], &value, BODY, SIGNED_AT - 301);
        assert_eq!(future, Err(VerifyError::Future));
    }

    #[test]
    fn what_stripe_sign_produces_is_accepted() {
        let stripe = Stripe::new(HmacKeys::new(&[SECRET]).unwrap(), DEFAULT_TOLERANCE);
        let now = at(SIGNED_AT);
        let signed = headers(&stripe.sign(BODY, now));
        assert_eq!(stripe.verify(&signed, BODY, now), Ok(()));
    }

    #[test]
    fn a_stripe_header_missing_parts_or_with_bad_ones_is_malformed() {
        for value in [
            format!("v1={V1}"),
            format!("t={SIGNED_AT}"),
            format!("t={SIGNED_AT},t={SIGNED_AT},v1={V1}"),
            format!("t={SIGNED_AT},v1"),
            format!("t={SIGNED_AT},,v1={V1}"),
            format!("t={SIGNED_AT},v1={}", &V1[..62]),
            format!("t={SIGNED_AT},v1={}", "zz".repeat(32)),
            format!("t=soon,v1={V1}"),
            format!("t=-1,v1={V1}"),
        ] {
            assert_malformed(verify(&[SECRET], &value, BODY));
        }
    }

    #[test]
    fn a_duplicated_oversized_or_non_ascii_stripe_header_is_malformed() {
        let valid = headers(&[(SIGNATURE, format!("t={SIGNED_AT},v1={V1}"))]);
        let stripe = Stripe::new(HmacKeys::new(&[SECRET]).unwrap(), DEFAULT_TOLERANCE);
        assert_hostile_values_are_malformed(&valid, SIGNATURE, |h| {
            stripe.verify(h, BODY, at(SIGNED_AT))
        });
    }
}
