//! Helpers shared by the schemes' unit tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::VerifyError;

/// The instant `secs` seconds after the epoch.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A header map holding `pairs`, in order; a repeated name is sent twice.
pub fn headers<V: AsRef<str>>(pairs: &[(&str, V)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::try_from(*name).unwrap();
        map.append(name, HeaderValue::from_str(value.as_ref()).unwrap());
    }
    map
}

/// Fails unless `result` is [`VerifyError::Malformed`].
pub fn assert_malformed(result: Result<(), VerifyError>) {
    assert!(
        matches!(result, Err(VerifyError::Malformed { .. })),
        "{result:?}"
    );
}

/// Checks that `verify` calls each hostile form of header `name` malformed
/// (sent twice, oversized, not ASCII, empty) where `valid` is accepted.
pub fn assert_hostile_values_are_malformed(
    valid: &HeaderMap,
    name: &str,
    verify: impl Fn(&HeaderMap) -> Result<(), VerifyError>,
) {
    assert_eq!(verify(valid), Ok(()), "the valid headers must pass first");
    let name = HeaderName::try_from(name).unwrap();
    let replaced = |value: HeaderValue| {
        let mut headers = valid.clone();
        headers.insert(name.clone(), value);
        headers
    };
    let mut twice = valid.clone();
    twice.append(name.clone(), valid[&name].clone());
    let hostile = [
        ("sent twice", twice),
        (
            "oversized",
            replaced(HeaderValue::from_str(&"a".repeat(2048)).unwrap()),
        ),
        (
            "not ASCII",
            replaced(HeaderValue::from_bytes(b"v1=\xff\xfe").unwrap()),
        ),
        ("empty", replaced(HeaderValue::from_static(""))),
    ];
    for (what, headers) in hostile {
        let result = verify(&headers);
        let names_the_header = matches!(
            &result,
            Err(VerifyError::Malformed { header, .. }) if header.eq_ignore_ascii_case(name.as_str())
        );
        assert!(names_the_header, "{name} {what}: {result:?}");
    }
}
