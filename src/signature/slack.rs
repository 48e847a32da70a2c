//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>`.

use std::time::SystemTime;

use poem::http::HeaderMap;

use super::timestamp::{self, Timed};
use super::{VerifyError, header};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";
const VERSION: &str = "v0";
const PREFIX: &str = "v0=";
/// The headers a source sends, signature first (also what `sign` produces).
pub(super) const HEADERS: &[&str] = &[SIGNATURE, TIMESTAMP];

/// The Slack scheme with its signing secrets and replay window.
pub type Slack = Timed<SlackScheme>;

/// Marks [`Timed`] as the Slack scheme.
#[derive(Debug)]
pub enum SlackScheme {}

impl Slack {
    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let (signed_at_text, signed_at) = timestamp::read(headers, TIMESTAMP)?;
        let tag = header::prefixed_hex(headers, SIGNATURE, PREFIX, "expected v0=<hex>")?;
        self.check_window_then_keys(signed_at, now, &base_string(signed_at_text, body), &[tag])
    }

    pub(super) fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(&'static str, String)> {
        let signed_at = timestamp::unix_seconds(now).to_string();
        let tag = self.keys().sign(&base_string(&signed_at, body));
        vec![
            (SIGNATURE, format!("{PREFIX}{}", hex::encode(tag))),
            (TIMESTAMP, signed_at),
        ]
    }
}

/// What Slack signs: `v0:<timestamp>:<body>`.
fn base_string<'a>(signed_at: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [VERSION.as_bytes(), b":", signed_at.as_bytes(), b":", body]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::testing::{
        assert_hostile_values_are_malformed, assert_malformed, at, headers,
    };
    use crate::signature::{DEFAULT_TOLERANCE, HmacKeys};

    /// Slack's worked example in "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SIGNED_AT: u64 = 1_531_420_618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    // printf '%s' "v0:1531420618:$BODY" | openssl dgst -sha256 -hmac 8f742231b10e8888abcd99yyyzzz85a5
    const SIGNATURE_OF_BODY: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn signed(signature: &str, signed_at: &str) -> HeaderMap {
        headers(&[(SIGNATURE, signature), (TIMESTAMP, signed_at)])
    }

    fn verify_at(
        secrets: &[&str],
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        let slack = Slack::new(HmacKeys::new(secrets).unwrap(), DEFAULT_TOLERANCE);
        slack.verify(headers, body, at(now))
    }

    fn verify(secrets: &[&str], headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        verify_at(secrets, headers, body, SIGNED_AT + 10)
    }

    fn example() -> HeaderMap {
        signed(SIGNATURE_OF_BODY, &SIGNED_AT.to_string())
    }

    #[test]
    fn slacks_published_example_is_accepted() {
        assert_eq!(verify(&[SECRET], &example(), BODY), Ok(()));
    }

    #[test]
    fn a_tampered_slack_body_or_timestamp_is_a_mismatch() {
        let tampered = &BODY[..BODY.len() - 1];
        assert_eq!(
            verify(&[SECRET], &example(), tampered),
            Err(VerifyError::Mismatch)
        );
        let moved = signed(SIGNATURE_OF_BODY, &(SIGNED_AT + 1).to_string());
        assert_eq!(verify(&[SECRET], &moved, BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_slack_signature_made_with_another_secret_is_a_mismatch() {
        assert_eq!(
            verify(&["another signing secret"], &example(), BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn during_a_rotation_the_second_slack_secret_matches() {
        assert_eq!(verify(&["the new one", SECRET], &example(), BODY), Ok(()));
    }

    #[test]
    fn a_slack_timestamp_past_the_tolerance_is_stale_or_future() {
        let stale = verify_at(&[SECRET], &example(), BODY, SIGNED_AT + 301);
        assert_eq!(stale, Err(VerifyError::Stale));
        let future = verify_at(&[SECRET], &example(), BODY, SIGNED_AT - 301);
        assert_eq!(future, Err(VerifyError::Future));
    }

    #[test]
    fn what_slack_sign_produces_is_accepted() {
        let slack = Slack::new(HmacKeys::new(&[SECRET]).unwrap(), DEFAULT_TOLERANCE);
        let now = at(SIGNED_AT);
        let signed = headers(&slack.sign(BODY, now));
        assert_eq!(slack.verify(&signed, BODY, now), Ok(()));
    }

    #[test]
    fn a_slack_signature_of_another_version_or_timestamp_not_in_seconds_is_malformed() {
        let digest = SIGNATURE_OF_BODY.trim_start_matches(PREFIX);
        let ts = SIGNED_AT.to_string();
        for headers in [
            signed(&format!("v1={digest}"), &ts),
            signed(digest, &ts),
            signed(&SIGNATURE_OF_BODY[..60], &ts),
            signed(SIGNATURE_OF_BODY, "1531420618.5"),
            signed(SIGNATURE_OF_BODY, "2018-07-12T18:36:58Z"),
        ] {
            assert_malformed(verify(&[SECRET], &headers, BODY));
        }
    }

    #[test]
    fn a_duplicated_oversized_or_non_ascii_slack_header_is_malformed() {
        for name in [SIGNATURE, TIMESTAMP] {
            assert_hostile_values_are_malformed(&example(), name, |h| {
                verify_at(&[SECRET], h, BODY, SIGNED_AT)
            });
        }
    }
}
