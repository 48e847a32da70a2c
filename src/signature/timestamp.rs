//! The replay window shared by the timestamped schemes, and [`Timed`]:
//! their keys with that window.

use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::HeaderMap;

use super::{HmacKeys, VerifyError, header};

/// The replay window of the timestamped schemes unless configured: the
/// five minutes Chatwoot, Stripe, Slack and Standard Webhooks tell their
/// receivers to allow.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A timestamped scheme's keys and replay window. `S` names the scheme
/// (Chatwoot, Stripe, Slack, Standard Webhooks); its own file gives
/// `Timed<S>` the `verify` and `sign` of its headers and signed content.
#[derive(Debug)]
pub struct Timed<S> {
    keys: HmacKeys,
    tolerance: Duration,
    scheme: PhantomData<S>,
}

impl<S> Timed<S> {
    /// A verifier with the given keys and replay window.
    pub fn new(keys: HmacKeys, tolerance: Duration) -> Self {
        Self {
            keys,
            tolerance,
            scheme: PhantomData,
        }
    }

    pub(super) fn keys(&self) -> &HmacKeys {
        &self.keys
    }

    /// Refuses a timestamp outside the window, then checks `tags` against
    /// `parts` signed with each key.
    pub(super) fn check_window_then_keys<T: AsRef<[u8]>>(
        &self,
        signed_at: u64,
        now: SystemTime,
        parts: &[&[u8]],
        tags: &[T],
    ) -> Result<(), VerifyError> {
        check(signed_at, now, self.tolerance)?;
        self.keys.check(parts, tags)
    }
}

/// The unix-seconds timestamp in header `name`: its text as sent (what the
/// provider signed) and its value.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Result<(&'a str, u64), VerifyError> {
    let text = header::single(headers, name)?;
    Ok((text, parse(name, text)?))
}

/// Parses a unix-seconds header value.
pub fn parse(name: &str, text: &str) -> Result<u64, VerifyError> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed {
            header: name.to_string(),
            reason: "not a unix timestamp",
        });
    }
    text.parse().map_err(|_| VerifyError::Malformed {
        header: name.to_string(),
        reason: "not a unix timestamp",
    })
}

/// Refuses a timestamp more than `tolerance` away from `now`, in either direction.
pub fn check(signed_at: u64, now: SystemTime, tolerance: Duration) -> Result<(), VerifyError> {
    let now = unix_seconds(now);
    let tolerance = tolerance.as_secs();
    if signed_at + tolerance < now {
        return Err(VerifyError::Stale);
    }
    if signed_at > now + tolerance {
        return Err(VerifyError::Future);
    }
    Ok(())
}

/// Seconds since the epoch; a clock before 1970 counts as 0.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_timestamp_at_the_edge_of_the_tolerance_is_accepted() {
        assert_eq!(check(1_000, at(1_300), FIVE_MINUTES), Ok(()));
        assert_eq!(check(1_300, at(1_000), FIVE_MINUTES), Ok(()));
    }

    #[test]
    fn a_timestamp_past_the_tolerance_is_stale_or_future() {
        assert_eq!(
            check(1_000, at(1_301), FIVE_MINUTES),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            check(1_301, at(1_000), FIVE_MINUTES),
            Err(VerifyError::Future)
        );
    }

    #[test]
    fn a_timestamp_that_is_not_digits_is_malformed() {
        for text in ["", "-5", "12a", "1e9", "9999999999999"] {
            assert!(parse("X-T", text).is_err(), "{text}");
        }
    }
}
