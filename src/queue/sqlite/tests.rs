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

/// A row for `route` under `id`.
fn row<'a>(id: &'a str, route: &'a str) -> Row<'a> {
    Row {
        id,
        route,
        received_at: 1,
        request_id: "r",
        headers: b"",
        body: b"{}",
    }
}

#[test]
fn a_version_2_file_is_upgraded_keeping_its_events_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    {
        // Version 2's table: one event id per file.
        let old = rusqlite::Connection::open(&path).unwrap();
        let v2 = include_str!("schema.sql")
            .replace("    id TEXT NOT NULL,", "    id TEXT NOT NULL UNIQUE,")
            .replace(",\n    UNIQUE (route, id)\n", "\n");
        assert!(
            v2.contains("UNIQUE,"),
            "the test no longer builds version 2"
        );
        old.execute_batch(&v2).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        insert(&old, &row("e1", "hook")).unwrap();
        insert(&old, &row("e2", "hook")).unwrap();
        assert!(insert(&old, &row("e1", "hook:archive")).is_err());
    }

    let conn = connect(&path).unwrap();

    assert_eq!(undelivered(&conn, "hook").unwrap(), 2);
    insert(&conn, &row("e1", "hook:archive")).unwrap();
    assert_eq!(undelivered(&conn, "hook:archive").unwrap(), 1);
    assert!(
        insert(&conn, &row("e1", "hook")).is_err(),
        "one id per queue"
    );
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    let pending: i64 = conn
        .query_row(
            "SELECT n FROM counts WHERE route = 'hook' AND state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 2, "the counts trigger survives the copy");
}
