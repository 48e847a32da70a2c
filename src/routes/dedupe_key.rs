//! The dedupe key of a delivery: header values and JSON pointers into the body.

use poem::http::{HeaderMap, HeaderName};
use serde_json::Value;

/// One part of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// `header:NAME`: the header's value.
    Header(HeaderName),
    /// `json:/pointer`: the value at that JSON pointer in the body.
    Json(String),
}

/// A route's dedupe key: every part must be present, joined in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec(Vec<Part>);

impl KeySpec {
    /// Parses `header:NAME` / `json:/pointer` parts.
    pub fn parse(parts: &[String]) -> Result<Self, String> {
        if parts.is_empty() {
            return Err("needs at least one part".into());
        }
        parts
            .iter()
            .map(|p| parse_part(p))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The key of this delivery, or `None` when a part is missing.
    pub fn extract(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let needs_json = self.0.iter().any(|p| matches!(p, Part::Json(_)));
        let json: Option<Value> = needs_json
            .then(|| serde_json::from_slice(body).ok())
            .flatten();
        let values = self
            .0
            .iter()
            .map(|part| match part {
                Part::Header(name) => headers.get(name)?.to_str().ok().map(str::to_string),
                Part::Json(pointer) => json.as_ref()?.pointer(pointer).and_then(scalar),
            })
            .collect::<Option<Vec<String>>>()?;
        // A unit separator cannot appear in a header value; JSON strings may
        // hold one, but never in a position that makes two keys collide by accident.
        Some(values.join("\u{1f}"))
    }
}

fn parse_part(text: &str) -> Result<Part, String> {
    if let Some(name) = text.strip_prefix("header:") {
        let name =
            HeaderName::try_from(name).map_err(|_| format!("`{name}` is not a header name"))?;
        return Ok(Part::Header(name));
    }
    if let Some(pointer) = text.strip_prefix("json:") {
        if !pointer.starts_with('/') {
            return Err(format!(
                "`{pointer}` is not a JSON pointer (it starts with `/`)"
            ));
        }
        return Ok(Part::Json(pointer.to_string()));
    }
    Err(format!("`{text}` must be `header:NAME` or `json:/pointer`"))
}

/// A JSON scalar as key text; objects, arrays and null are not keys.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
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
