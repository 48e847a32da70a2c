//! Standard Webhooks against the specification's vector and hostile headers.

use super::*;
use crate::signature::DEFAULT_TOLERANCE;
use crate::signature::testing::{
    assert_hostile_values_are_malformed, assert_malformed, at, headers,
};

/// The specification's test vector, as the reference libraries test it.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SIGNED_AT: u64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
// python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
//   base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
//   b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
//   hashlib.sha256).digest()).decode())'
const V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
// The same with the key b"another key" (a secret without `whsec_` is its bytes).
const V1_OTHER_KEY: &str = "v1,G2/woLBsuE7rIeF5usOWE4VvDmlZhvdJxf+IK3804nE=";

fn scheme(secrets: &[&str]) -> StandardWebhooks {
    let keys: Vec<Vec<u8>> = secrets.iter().map(|s| decode_secret(s).unwrap()).collect();
    StandardWebhooks::new(HmacKeys::from_bytes(&keys).unwrap(), DEFAULT_TOLERANCE)
}

fn delivery(id: &str, signed_at: &str, signature: &str) -> HeaderMap {
    headers(&[(ID, id), (TIMESTAMP, signed_at), (SIGNATURE, signature)])
}

fn example(signature: &str) -> HeaderMap {
    delivery(MSG_ID, &SIGNED_AT.to_string(), signature)
}

fn verify(secrets: &[&str], headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    scheme(secrets).verify(headers, body, at(SIGNED_AT + 10))
}

#[test]
fn the_specifications_test_vector_is_accepted() {
    assert_eq!(verify(&[SECRET], &example(V1), BODY), Ok(()));
}

#[test]
fn a_secret_without_the_whsec_prefix_is_used_as_its_bytes() {
    // Same python3 command as V1, with the key b"plain-secret".
    let signature = "v1,3Iu+JbC8cHey9rJURLZfxQoX30vMfLebm9Kn1ePn6f4=";
    let result = verify(&["plain-secret"], &example(signature), BODY);
    assert_eq!(result, Ok(()));
}

#[test]
fn a_whsec_secret_that_is_not_base64_is_refused_without_being_quoted() {
    let message = decode_secret("whsec_s3cr3t!").unwrap_err();
    assert!(!message.contains("s3cr3t"), "{message}");
    assert_eq!(decode_secret(SECRET).unwrap().len(), 24);
}

#[test]
fn a_whsec_secret_of_fewer_than_24_key_bytes_is_refused() {
    // b"another key": 11 bytes, a key a lax decoder would have taken.
    let message = decode_secret("whsec_YW5vdGhlciBrZXk=").unwrap_err();
    assert!(message.contains("decodes to 11 bytes"), "{message}");
    assert!(decode_secret("whsec_").is_err());
}

#[test]
fn a_broken_entry_beside_a_valid_one_does_not_void_it() {
    let short = format!("v1,{}", STANDARD.encode([0u8; 16]));
    for signature in [
        format!("v1,AAAA {V1}"),
        format!("{V1} v1"),
        format!("v1,not-base64! {V1}"),
        format!("{short} {V1}"),
    ] {
        assert_eq!(
            verify(&[SECRET], &example(&signature), BODY),
            Ok(()),
            "{signature}"
        );
    }
}

#[test]
fn a_signature_header_with_two_v1_entries_matches_either() {
    for signature in [
        format!("{V1_OTHER_KEY} {V1}"),
        format!("{V1} {V1_OTHER_KEY}"),
    ] {
        assert_eq!(verify(&[SECRET], &example(&signature), BODY), Ok(()));
    }
}

#[test]
fn entries_of_other_versions_are_ignored_but_cannot_stand_in_for_v1() {
    let with_v1a = format!("v1a,{} {V1}", "A".repeat(86));
    assert_eq!(verify(&[SECRET], &example(&with_v1a), BODY), Ok(()));
    let only_v2 = V1.replacen("v1,", "v2,", 1);
    assert_malformed(verify(&[SECRET], &example(&only_v2), BODY));
}

#[test]
fn a_tampered_body_id_or_timestamp_is_a_mismatch() {
    let mismatch = Err(VerifyError::Mismatch);
    assert_eq!(verify(&[SECRET], &example(V1), br#"{"test": 1}"#), mismatch);
    let other_id = delivery("msg_other", &SIGNED_AT.to_string(), V1);
    assert_eq!(verify(&[SECRET], &other_id, BODY), mismatch);
    let moved = delivery(MSG_ID, &(SIGNED_AT + 1).to_string(), V1);
    assert_eq!(verify(&[SECRET], &moved, BODY), mismatch);
}

#[test]
fn a_signature_made_with_another_secret_is_a_mismatch() {
    let result = verify(&["another key"], &example(V1), BODY);
    assert_eq!(result, Err(VerifyError::Mismatch));
}

#[test]
fn during_a_rotation_the_second_standard_webhooks_secret_matches() {
    let result = verify(&["another key", SECRET], &example(V1), BODY);
    assert_eq!(result, Ok(()));
}

#[test]
fn a_standard_webhooks_timestamp_past_the_tolerance_is_stale_or_future() {
    let stale = scheme(&[SECRET]).verify(&example(V1), BODY, at(SIGNED_AT + 301));
    assert_eq!(stale, Err(VerifyError::Stale));
    let future = scheme(&[SECRET]).verify(&example(V1), BODY, at(SIGNED_AT - 301));
    assert_eq!(future, Err(VerifyError::Future));
}

#[test]
fn what_standard_webhooks_sign_produces_is_accepted() {
    let scheme = scheme(&[SECRET]);
    let now = at(SIGNED_AT);
    let signed = headers(&scheme.sign(BODY, now));
    assert_eq!(scheme.verify(&signed, BODY, now), Ok(()));
}

#[test]
fn a_malformed_or_missing_standard_webhooks_header_is_refused() {
    let digest = V1.trim_start_matches("v1,");
    for signature in [
        digest.to_string(),
        format!("v1={digest}"),
        "v1,not base64!".to_string(),
        format!("v1,{}", STANDARD.encode([0u8; 16])),
        "v1 v1,AAAA".to_string(),
    ] {
        assert_malformed(verify(&[SECRET], &example(&signature), BODY));
    }
    let mut no_id = example(V1);
    no_id.remove(ID);
    let result = verify(&[SECRET], &no_id, BODY);
    assert_eq!(result, Err(VerifyError::MissingHeader(ID.into())));
}

#[test]
fn a_duplicated_oversized_or_non_ascii_standard_webhooks_header_is_malformed() {
    let scheme = scheme(&[SECRET]);
    for name in [ID, TIMESTAMP, SIGNATURE] {
        assert_hostile_values_are_malformed(&example(V1), name, |h| {
            scheme.verify(h, BODY, at(SIGNED_AT))
        });
    }
}

#[test]
fn the_outbound_signer_reproduces_the_specifications_test_vector() {
    let signer = Signer::new(SECRET).unwrap();

    let signed = signer.headers(MSG_ID, BODY, at(SIGNED_AT));

    assert_eq!(signed[0], (ID, MSG_ID.to_string()));
    assert_eq!(signed[1], (TIMESTAMP, SIGNED_AT.to_string()));
    assert_eq!(signed[2], (SIGNATURE, V1.to_string()));
}

#[test]
fn the_outbound_signer_takes_only_a_whsec_key() {
    let message = Signer::new("plain-secret").unwrap_err();
    assert!(message.contains("whsec_"), "{message}");
    assert!(!message.contains("plain-secret"), "{message}");
}
