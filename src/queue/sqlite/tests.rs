//! The SQLite statements against a real file: their query plans, and what
//! the store makes of a state it does not know.

use rusqlite::params;

use super::sql::*;

/// The steps of `statement`'s query plan, one per line.
fn plan(statement: &str, parameters: impl rusqlite::Params) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&dir.path().join("q.db")).unwrap();
    let mut plan = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
        .unwrap();
    let steps: Vec<String> = plan
        .query_map(parameters, |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    steps.join("\n")
}

#[test]
fn due_events_are_read_in_store_order_without_sorting_the_backlog() {
    let plan = plan(DUE, params!["r", 0]);

    assert!(plan.contains("USING INDEX events_in_order"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn the_next_retry_is_found_in_the_retry_index_without_reading_the_backlog() {
    let plan = plan(NEXT_RETRIES, params!["r"]);

    assert!(plan.contains("USING INDEX events_retrying"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

/// How often `statement` was compiled again while run once per binding.
fn recompiled<P: rusqlite::Params>(statement: &str, bindings: Vec<P>) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&dir.path().join("q.db")).unwrap();
    let mut statement = conn.prepare(statement).unwrap();
    for parameters in bindings {
        statement.query(parameters).unwrap().next().unwrap();
    }
    statement.get_status(rusqlite::StatementStatus::RePrepare)
}

#[test]
fn the_due_query_is_compiled_once_not_per_call() {
    assert_eq!(recompiled(DUE, vec![params!["r", 1], params!["r", 2]]), 0);
}

#[test]
fn the_next_retries_query_is_compiled_once_not_per_call() {
    assert_eq!(
        recompiled(NEXT_RETRIES, vec![params!["r"], params!["s"]]),
        0
    );
}

#[tokio::test]
async fn counts_under_an_unknown_state_are_refused_not_taken_for_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = super::Sqlite::open(&path).unwrap();
    // As a newer hookgate, or a hand in the sqlite3 shell, could leave it.
    let conn = connect(&path).unwrap();
    conn.execute("INSERT INTO counts VALUES ('hook', 'archived', 1)", [])
        .unwrap();

    let stats = crate::queue::store::Store::stats(&store, "hook").await;

    let error = stats.expect_err("an unknown state was counted");
    assert!(error.to_string().contains("archived"), "{error}");
}
