//! A field of a request, as dedupe keys and destination filters name it:
//! `header:NAME` (a header's value) or `json:/pointer` (a scalar of the
//! JSON body, RFC 6901).

use std::borrow::Cow;
use std::fmt;

use poem::http::{HeaderMap, HeaderName};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// Where a value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `header:NAME`: the header's value.
    Header(HeaderName),
    /// `json:/pointer`: the scalar at that pointer in the body.
    Json(String),
}

impl Field {
    /// Parses `header:NAME` or `json:/pointer`; the error quotes the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("header:") {
            let name =
                HeaderName::try_from(name).map_err(|_| format!("`{name}` is not a header name"))?;
            return Ok(Field::Header(name));
        }
        if let Some(pointer) = text.strip_prefix("json:") {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "`{pointer}` is not a JSON pointer (it starts with `/`)"
                ));
            }
            return Ok(Field::Json(pointer.to_string()));
        }
        Err(format!("`{text}` must be `header:NAME` or `json:/pointer`"))
    }

    /// The field's value in a request with `headers` and `body`, as text: a
    /// header's value, or a JSON string, number or boolean as JSON writes it
    /// (`42`, `true`). `None` when it is absent, not text, an object, an
    /// array or null, or when the body is not JSON.
    pub fn value(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        match self {
            Field::Header(name) => headers.get(name)?.to_str().ok().map(str::to_string),
            Field::Json(pointer) => scalar(find(body, pointer)?),
        }
    }
}

/// A JSON scalar as text; objects, arrays and null are none.
fn scalar(value: Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The value at `pointer` in the JSON `body`. Read level by level as raw
/// text: only the containers the pointer passes through are split into
/// their members, and only the value found is parsed, so a 2 KB webhook is
/// not made into a tree of allocations to read one field.
fn find(body: &[u8], pointer: &str) -> Option<Value> {
    // No pass to check the whole body first: splitting the outer object
    // reads all of it, and fails if it is not JSON.
    let mut text = std::str::from_utf8(body).ok()?;
    for token in pointer.split('/').skip(1) {
        text = member(text, &unescape(token))?.get();
    }
    serde_json::from_str(text).ok()
}

/// The member `token` of the object or array written `text`.
fn member<'a>(text: &'a str, token: &str) -> Option<&'a RawValue> {
    let text = text.trim_start();
    match text.as_bytes().first()? {
        b'{' => {
            let mut reader = serde_json::Deserializer::from_str(text);
            let found = reader.deserialize_map(MemberNamed(token)).ok()?;
            reader.end().ok()?;
            found
        }
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            let canonical = token == "0" || !token.starts_with('0');
            items
                .get(token.parse::<usize>().ok().filter(|_| canonical)?)
                .copied()
        }
        _ => None,
    }
}

/// Reads an object's members, keeping the raw value of the one named
/// `.0` (the last one, as `serde_json::Value` keeps duplicates) and
/// skipping the others without building them.
struct MemberNamed<'t>(&'t str);

impl<'de> Visitor<'de> for MemberNamed<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Key(key)) = members.next_key()? {
            match key == self.0 {
                true => found = Some(members.next_value()?),
                false => drop(members.next_value::<IgnoredAny>()?),
            }
        }
        Ok(found)
    }
}

/// An object's key, borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyText)
    }
}

struct KeyText;

impl<'de> Visitor<'de> for KeyText {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(key.to_string())))
    }
}

/// A pointer token as the key it names: `~1` is `/`, `~0` is `~`.
fn unescape(token: &str) -> Cow<'_, str> {
    match token.contains('~') {
        true => Cow::Owned(token.replace("~1", "/").replace("~0", "~")),
        false => Cow::Borrowed(token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_nested_members_array_items_and_escaped_keys_as_serde_json_does() {
        let body = r#"{"a":{"b/c":[{"~k":"x"},{"d":"y"}]},"\u00e9":"z","n":null}"#;
        let parsed: Value = serde_json::from_str(body).unwrap();
        let pointers = [
            "/a/b~1c/0/~0k",
            "/a/b~1c/1/d",
            "/é",
            "/a/b~1c/2",
            "/a/b~1c/01",
            "/n",
            "/x/y",
            "",
        ];
        for pointer in pointers {
            let found = find(body.as_bytes(), pointer);
            assert_eq!(found, parsed.pointer(pointer).cloned(), "{pointer}");
        }
    }

    #[test]
    fn scalars_are_text_and_containers_are_none() {
        let body = br#"{"s":"t","n":4.5,"b":false,"o":{},"a":[],"z":null}"#;
        let value = |p: &str| Field::Json(p.into()).value(&HeaderMap::new(), body);
        assert_eq!(value("/s").as_deref(), Some("t"));
        assert_eq!(value("/n").as_deref(), Some("4.5"));
        assert_eq!(value("/b").as_deref(), Some("false"));
        assert_eq!((value("/o"), value("/a"), value("/z")), (None, None, None));
    }

    #[test]
    fn a_field_of_neither_kind_is_refused_with_its_text() {
        let bad = |text: &str| Field::parse(text).unwrap_err();
        assert!(bad("json:event").contains("`event` is not a JSON pointer"));
        assert!(bad("body:/event").contains("`body:/event` must be"));
        assert!(bad("header:bad name").contains("not a header name"));
    }
}
