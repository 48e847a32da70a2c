//! docs/configuration.md lists exactly the keys the schema takes: every
//! documented key exists, and every key of the schema is documented.

use std::collections::{BTreeMap, BTreeSet};

use serde_aux::serde_introspection::serde_introspect;

use super::schema::{
    Generic, GenericSha256, Keyed, NoSecret, RawAdmin, RawBreaker, RawConfig, RawDedupe,
    RawDestination, RawLog, RawRetry, RawRoute, RawServer, RawStore, RawTelemetry, SharedToken,
    Timed,
};

/// The keys of each table, by the heading that documents it.
fn schema_keys() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let keys = |fields: &[&[&'static str]]| fields.iter().flat_map(|f| f.iter().copied()).collect();
    let signature = [
        &["scheme"][..],
        serde_introspect::<NoSecret>(),
        serde_introspect::<Keyed>(),
        serde_introspect::<Timed>(),
        serde_introspect::<Generic>(),
        serde_introspect::<GenericSha256>(),
        serde_introspect::<SharedToken>(),
    ];
    BTreeMap::from([
        ("[server]", keys(&[serde_introspect::<RawServer>()])),
        ("[routes.NAME]", keys(&[serde_introspect::<RawRoute>()])),
        (
            "[routes.NAME.retry]",
            keys(&[serde_introspect::<RawRetry>()]),
        ),
        (
            "[routes.NAME.breaker]",
            keys(&[serde_introspect::<RawBreaker>()]),
        ),
        ("[routes.NAME.signature]", keys(&signature)),
        (
            "[routes.NAME.dedupe]",
            keys(&[serde_introspect::<RawDedupe>()]),
        ),
        ("[routes.NAME.log]", keys(&[serde_introspect::<RawLog>()])),
        (
            "[routes.NAME.destinations.DEST]",
            keys(&[serde_introspect::<RawDestination>()]),
        ),
        ("[admin]", keys(&[serde_introspect::<RawAdmin>()])),
        ("[store]", keys(&[serde_introspect::<RawStore>()])),
        ("[telemetry]", keys(&[serde_introspect::<RawTelemetry>()])),
    ])
}

/// The keys in the first column of the table under each "### `[table]`"
/// heading of the reference.
fn documented_keys(reference: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in reference.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let table = heading
                .trim()
                .strip_prefix("`[")
                .and_then(|h| h.strip_suffix("]`"));
            current = table.map(|t| format!("[{t}]"));
            continue;
        }
        let (Some(table), Some(cell)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((key, _)) = cell.split_once("` |") {
            tables
                .entry(table.clone())
                .or_default()
                .insert(key.to_string());
        }
    }
    tables
}

#[test]
fn the_configuration_reference_lists_exactly_the_keys_of_the_schema() {
    let reference = std::fs::read_to_string("docs/configuration.md").unwrap();
    let documented = documented_keys(&reference);
    let schema = schema_keys();
    let top: BTreeSet<&str> = serde_introspect::<RawConfig>().iter().copied().collect();
    assert_eq!(
        top,
        BTreeSet::from(["admin", "routes", "server", "store", "telemetry"])
    );
    for (table, keys) in &schema {
        let listed: BTreeSet<&str> = documented
            .get(*table)
            .map(|keys| keys.iter().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            &listed, keys,
            "docs/configuration.md, {table}: documented vs schema"
        );
    }
    let unknown: Vec<&String> = documented
        .keys()
        .filter(|t| !schema.contains_key(t.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "documented tables the schema does not have: {unknown:?}"
    );
}

#[test]
fn a_key_missing_from_the_reference_is_noticed() {
    let reference = "### `[admin]`\n\n| key | default |\n| --- | --- |\n| `token` | unset |\n";
    let documented = documented_keys(reference);
    let schema = schema_keys();
    assert_ne!(
        documented["[admin]"]
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        schema["[admin]"]
    );
}
