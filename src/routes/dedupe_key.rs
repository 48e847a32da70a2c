//! The dedupe key of a delivery: header values and JSON pointers into the body.

use poem::http::HeaderMap;

use super::field::Field;

/// A route's dedupe key: every part must be present, joined in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec(Vec<Field>);

impl KeySpec {
    /// Parses `header:NAME` / `json:/pointer` parts.
    pub fn parse(parts: &[String]) -> Result<Self, String> {
        if parts.is_empty() {
            return Err("needs at least one part".into());
        }
        parts
            .iter()
            .map(|p| Field::parse(p))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The key of this delivery, or `None` when a part is missing.
    pub fn extract(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let values = (self.0.iter())
            .map(|part| part.value(headers, body))
            .collect::<Option<Vec<String>>>()?;
        // A unit separator cannot appear in a header value; JSON strings may
        // hold one, but never in a position that makes two keys collide by accident.
        Some(values.join("\u{1f}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(parts: &[&str]) -> KeySpec {
        KeySpec::parse(&parts.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_header_part_takes_the_header_value() {
        let mut headers = HeaderMap::new();
        headers.insert("x-chatwoot-delivery", "d-1".parse().unwrap());
        assert_eq!(
            spec(&["header:X-Chatwoot-Delivery"]).extract(&headers, b""),
            Some("d-1".into())
        );
    }

    #[test]
    fn a_json_pointer_part_takes_a_scalar_from_the_body() {
        let body = br#"{"id": 42, "conversation": {"id": "c-7"}}"#;
        let key = spec(&["json:/conversation/id", "json:/id"]).extract(&HeaderMap::new(), body);
        assert_eq!(key, Some("c-7\u{1f}42".into()));
    }

    #[test]
    fn a_missing_part_or_a_body_that_is_not_json_gives_no_key() {
        let headers = HeaderMap::new();
        assert_eq!(spec(&["header:X-Id"]).extract(&headers, b"{}"), None);
        assert_eq!(spec(&["json:/id"]).extract(&headers, b"not json"), None);
        assert_eq!(
            spec(&["json:/id"]).extract(&headers, br#"{"id": {"nested": 1}}"#),
            None
        );
    }

    #[test]
    fn a_part_of_neither_kind_is_refused() {
        for bad in ["id", "json:id", "header:bad header", "query:x"] {
            assert!(KeySpec::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
