//! `${VAR}` and `${VAR:-default}` inside string values, after parsing.
//!
//! Expanding the parsed values rather than the raw text means a variable can
//! never inject TOML syntax. A literal `$` is written `$$`.

use figment::value::{Dict, Value};

/// A variable that is unset and has no default, or a `${` never closed,
/// with the key it appeared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset {
    /// The key path, e.g. `["routes", "chatwoot", "downstream"]`.
    pub path: Vec<String>,
    /// The variable's name; empty for a `${` without its `}`.
    pub var: String,
}

/// Expands every string in `value`, looking variables up with `lookup`.
///
/// A string whose variable is unset is removed when `may_drop(path)` says so
/// (a signature secret in development) and reported otherwise.
pub fn expand(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    may_drop: &dyn Fn(&[String]) -> bool,
) -> Vec<Unset> {
    let mut unset = Vec::new();
    let mut walker = Walker {
        lookup,
        may_drop,
        unset: &mut unset,
        path: Vec::new(),
    };
    if let Value::Dict(_, dict) = value {
        walker.dict(dict);
    }
    unset
}

struct Walker<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    may_drop: &'a dyn Fn(&[String]) -> bool,
    unset: &'a mut Vec<Unset>,
    path: Vec<String>,
}

impl Walker<'_> {
    fn dict(&mut self, dict: &mut Dict) {
        let mut dropped = Vec::new();
        for (key, value) in dict.iter_mut() {
            self.path.push(key.clone());
            if !self.value(value) {
                dropped.push(key.clone());
            }
            self.path.pop();
        }
        for key in dropped {
            dict.remove(&key);
        }
    }

    /// Returns false when the value must be removed from its parent.
    fn value(&mut self, value: &mut Value) -> bool {
        match value {
            Value::Dict(_, dict) => self.dict(dict),
            Value::Array(_, items) => {
                let mut keep = Vec::with_capacity(items.len());
                for (index, item) in items.iter_mut().enumerate() {
                    self.path.push(index.to_string());
                    keep.push(self.value(item));
                    self.path.pop();
                }
                let mut flags = keep.into_iter();
                items.retain(|_| flags.next().unwrap_or(true));
            }
            Value::String(_, text) => return self.string(text),
            _ => {}
        }
        true
    }

    fn string(&mut self, text: &mut String) -> bool {
        // Left as it is, `${TOKEN` would go live as a guessable literal.
        if has_unterminated_reference(text) {
            self.unset.push(Unset {
                path: self.path.clone(),
                var: String::new(),
            });
            return true;
        }
        let lookup = self.lookup;
        // An unset variable is an error (not left literally) so that a default,
        // when given, applies and a missing one is reported.
        let context = |var: &str| lookup(var).map(Some).ok_or(());
        match shellexpand::env_with_context(text.as_str(), context) {
            Ok(expanded) => {
                *text = expanded.into_owned();
                true
            }
            Err(error) => self.unset_var(error.var_name),
        }
    }

    fn unset_var(&mut self, var: String) -> bool {
        if (self.may_drop)(&self.path) {
            return false;
        }
        self.unset.push(Unset {
            path: self.path.clone(),
            var,
        });
        true
    }
}

/// Whether `text` opens a `${` that no `}` closes (`$$` is a literal `$`).
fn has_unterminated_reference(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
        } else if let Some(reference) = after.strip_prefix('{') {
            let Some(end) = reference.find('}') else {
                return true;
            };
            rest = &reference[end + 1..];
        } else {
            rest = after;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use figment::value::Value;

    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "HOST" => Some("agent.internal".into()),
            "SECRET" => Some("s3cret".into()),
            _ => None,
        }
    }

    fn expand_one(text: &str) -> Result<String, Vec<Unset>> {
        let mut dict = Dict::new();
        dict.insert("key".into(), Value::from(text.to_string()));
        let mut value = Value::from(dict);
        let unset = expand(&mut value, &env, &|_| false);
        if !unset.is_empty() {
            return Err(unset);
        }
        Ok(value.find("key").unwrap().into_string().unwrap())
    }

    #[test]
    fn a_set_variable_is_replaced_by_its_value() {
        assert_eq!(
            expand_one("http://${HOST}/hook").unwrap(),
            "http://agent.internal/hook"
        );
    }

    #[test]
    fn a_default_applies_only_when_the_variable_is_unset() {
        assert_eq!(
            expand_one("${NOPE:-http://fallback}").unwrap(),
            "http://fallback"
        );
        assert_eq!(expand_one("${HOST:-fallback}").unwrap(), "agent.internal");
    }

    #[test]
    fn an_unset_variable_without_default_is_reported_with_its_key() {
        let unset = expand_one("${NOPE}").unwrap_err();
        assert_eq!(
            unset,
            vec![Unset {
                path: vec!["key".into()],
                var: "NOPE".into()
            }]
        );
    }

    #[test]
    fn a_reference_without_its_closing_brace_is_reported_even_where_unset_may_be_dropped() {
        for text in [
            "${ADMIN_TOKEN",
            "prefix-${HOST}-${SECRET",
            "${HOST:-fallback",
        ] {
            let mut value = Value::from(Dict::from([("token".into(), Value::from(text))]));
            let reported = expand(&mut value, &env, &|_| true);
            assert_eq!(reported.len(), 1, "{text}");
            assert_eq!(reported[0].var, "", "{text}");
        }
        assert!(!has_unterminated_reference("$${literal"));
        assert!(!has_unterminated_reference("${HOST}/a$b"));
    }

    #[test]
    fn a_doubled_dollar_is_a_literal_dollar() {
        assert_eq!(expand_one("pa$$word").unwrap(), "pa$word");
    }

    #[test]
    fn a_droppable_unset_value_is_removed_from_its_array() {
        let mut value = Value::from(Dict::from([(
            "secrets".to_string(),
            Value::from(vec!["${SECRET}".to_string(), "${NOPE}".to_string()]),
        )]));
        let unset = expand(&mut value, &env, &|_| true);
        assert!(unset.is_empty());
        let secrets: Vec<String> = value.find("secrets").unwrap().deserialize().unwrap();
        assert_eq!(secrets, vec!["s3cret".to_string()]);
    }
}
