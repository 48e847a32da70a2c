//! The environment a config is read with, injected rather than read from
//! the process: it fills `${VAR}` and applies `HOOKGATE_SECTION__KEY`
//! overrides. The binary passes [`Vars::process`]; tests pass their own, so
//! a variable exported in a developer's shell cannot change what they test.

use std::collections::BTreeMap;
use std::fmt;

use figment::value::Value;

/// Prefix of the variables that override keys, e.g. `HOOKGATE_SERVER__LISTEN`.
pub const ENV_PREFIX: &str = "HOOKGATE_";

/// Environment variables by name. Values may be secrets: never printed.
#[derive(Clone, Default)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The process's environment (variables that are not UTF-8 are left out).
    pub fn process() -> Self {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `HOOKGATE_A__B` overrides as key paths (`a.b`, lowercased) and
    /// values parsed as figment parses environment values. Only names with a
    /// section separator count: `HOOKGATE_CONFIG` and `HOOKGATE_ADMIN_TOKEN`
    /// are settings of the binary, not of the file.
    pub fn overrides(&self) -> impl Iterator<Item = (String, Value)> + '_ {
        self.0.iter().filter_map(|(name, value)| {
            let key = name.strip_prefix(ENV_PREFIX)?;
            if !key.contains("__") {
                return None;
            }
            let path = key.to_ascii_lowercase().replace("__", ".");
            if path.split('.').any(str::is_empty) {
                return None;
            }
            Some((
                path,
                value
                    .parse()
                    .expect("parsing a figment value is infallible"),
            ))
        })
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_names_with_a_section_separator_are_overrides() {
        let vars: Vars = [
            ("HOOKGATE_SERVER__LISTEN", "127.0.0.1:9"),
            ("HOOKGATE_ROUTES__Chatwoot__ENABLED", "false"),
            ("HOOKGATE_CONFIG", "x.toml"),
            ("HOOKGATE_ADMIN_TOKEN", "t"),
            ("HOOKGATE_BAD____KEY", "1"),
            ("SERVER__LISTEN", "nope"),
        ]
        .into_iter()
        .collect();
        let paths: Vec<(String, Value)> = vars.overrides().collect();
        let keys: Vec<&str> = paths.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["routes.chatwoot.enabled", "server.listen"]);
        assert_eq!(paths[0].1.to_bool(), Some(false));
    }

    #[test]
    fn debug_shows_names_never_values() {
        let vars: Vars = [("TOKEN", "s3cret")].into_iter().collect();
        let shown = format!("{vars:?}");
        assert!(
            shown.contains("TOKEN") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
