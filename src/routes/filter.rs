//! A destination's `filter`: conditions on headers and JSON fields that an
//! event must all meet to be sent there.

use poem::http::HeaderMap;

use super::field::Field;

/// One condition: the field holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    field: Field,
    values: Vec<String>,
}

/// Every condition must hold. Built only by [`Filter::new`], at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    conditions: Vec<Condition>,
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
                    field: Field::parse(field)?,
                    values: values.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { conditions })
    }

    /// Whether a request with `headers` and the verified `body` meets
    /// every condition.
    pub fn holds(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        (self.conditions.iter()).all(|condition| {
            let value = condition.field.value(headers, body);
            value.is_some_and(|v| condition.values.contains(&v))
        })
    }
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
            map.insert(
                poem::http::HeaderName::try_from(*name).unwrap(),
                value.parse().unwrap(),
            );
        }
        filter.holds(&map, body.as_bytes())
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
