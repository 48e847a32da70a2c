//! A destination's `filter`: conditions on headers and JSON fields that an
//! event must all meet to be sent there.

use poem::http::{HeaderMap, HeaderName};
use serde_json::Value;

/// Where a condition looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `header:NAME`: the header's value.
    Header(HeaderName),
    /// `json:/pointer`: the scalar at that pointer in the body.
    Json(String),
}

/// One condition: the field holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Where to look.
    pub field: Field,
    /// Any of these matches.
    pub values: Vec<String>,
}

/// Every condition must hold. Built only by [`Filter::new`], at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    conditions: Vec<Condition>,
}

/// The request as filters see it: the body parsed as JSON at most once,
/// and only if some condition asks for it.
pub struct Subject<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    json: Option<Option<Value>>,
}

impl<'a> Subject<'a> {
    /// The request with `headers` and the verified `body`.
    pub fn new(headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        Self {
            headers,
            body,
            json: None,
        }
    }

    /// The body as JSON; `None` when it is not JSON (a `json:` condition
    /// then fails: it is not an error).
    fn json(&mut self) -> Option<&Value> {
        let body = self.body;
        self.json
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()
    }
}

impl Filter {
    /// A filter of `conditions`, each written `json:/pointer` or
    /// `header:NAME` with its values; the error names the condition.
    pub fn new(conditions: &[(String, Vec<String>)]) -> Result<Self, String> {
        let conditions = conditions
            .iter()
            .map(|(field, values)| {
                if values.is_empty() {
                    return Err(format!("`{field}` lists no value"));
                }
                Ok(Condition {
                    field: field_of(field)?,
                    values: values.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { conditions })
    }

    /// Whether `subject` meets every condition.
    pub fn holds(&self, subject: &mut Subject<'_>) -> bool {
        self.conditions.iter().all(|condition| {
            let found = match &condition.field {
                Field::Header(name) => subject.headers.get(name).and_then(|v| v.to_str().ok()),
                Field::Json(pointer) => {
                    let value = subject.json().and_then(|json| json.pointer(pointer));
                    return value.is_some_and(|v| matches(v, &condition.values));
                }
            };
            found.is_some_and(|text| condition.values.iter().any(|v| v == text))
        })
    }

    /// Whether a condition reads the body.
    pub fn reads_json(&self) -> bool {
        (self.conditions.iter()).any(|c| matches!(c.field, Field::Json(_)))
    }
}

/// A JSON scalar against the listed texts: a string by its text, a number
/// or a boolean by how JSON writes it (`42`, `true`).
fn matches(value: &Value, values: &[String]) -> bool {
    let text = match value {
        Value::String(text) => return values.iter().any(|v| v == text),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => return false,
    };
    values.contains(&text)
}

fn field_of(text: &str) -> Result<Field, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(conditions: &[(&str, &[&str])]) -> Filter {
        let owned: Vec<(String, Vec<String>)> = conditions
            .iter()
            .map(|(f, vs)| (f.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect();
        Filter::new(&owned).unwrap()
    }

    fn holds(filter: &Filter, headers: &[(&str, &str)], body: &str) -> bool {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(HeaderName::try_from(*name).unwrap(), value.parse().unwrap());
        }
        filter.holds(&mut Subject::new(&map, body.as_bytes()))
    }

    #[test]
    fn a_json_condition_matches_any_of_its_values() {
        let f = filter(&[("json:/event", &["message_created", "message_updated"])]);

        assert!(holds(&f, &[], r#"{"event":"message_updated"}"#));
        assert!(!holds(&f, &[], r#"{"event":"conversation_created"}"#));
    }

    #[test]
    fn every_condition_must_hold() {
        let f = filter(&[
            ("json:/event", &["push"]),
            ("header:X-GitHub-Event", &["push"]),
        ]);

        assert!(holds(
            &f,
            &[("x-github-event", "push")],
            r#"{"event":"push"}"#
        ));
        assert!(!holds(
            &f,
            &[("x-github-event", "ping")],
            r#"{"event":"push"}"#
        ));
        assert!(!holds(&f, &[], r#"{"event":"push"}"#));
    }

    #[test]
    fn a_body_that_is_not_json_fails_a_json_condition_without_an_error() {
        let f = filter(&[("json:/event", &["x"])]);

        assert!(!holds(&f, &[], "event=x"));
    }

    #[test]
    fn numbers_and_booleans_match_as_json_writes_them() {
        let f = filter(&[("json:/id", &["42"]), ("json:/private", &["false"])]);

        assert!(holds(&f, &[], r#"{"id":42,"private":false}"#));
        assert!(!holds(&f, &[], r#"{"id":"42x","private":false}"#));
    }

    #[test]
    fn a_malformed_condition_is_refused_with_its_text() {
        let bad = |field: &str| Filter::new(&[(field.into(), vec!["x".into()])]).unwrap_err();

        assert!(bad("json:event").contains("`event` is not a JSON pointer"));
        assert!(bad("body:/event").contains("`body:/event` must be"));
        assert!(bad("header:bad name").contains("not a header name"));
        let empty = Filter::new(&[("json:/a".into(), vec![])]).unwrap_err();
        assert!(empty.contains("lists no value"), "{empty}");
    }
}
