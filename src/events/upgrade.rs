//! Brings a log written by an earlier version up to the current schema:
//! columns added since are added, and what they index is filled in.

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::query::delivery_key;

/// The log's schema version in `PRAGMA user_version`, as the queue's
/// store keeps its own; logs written before it had one read 0. 2: a new
/// file's `events` has no index on ids alone (schema.sql), so a version
/// before 2 would scan the table for each id it looks up.
const VERSION: i64 = 2;

/// Columns added to tables of earlier logs, with their types.
const ADDED: &[(&str, &str, &str)] = &[
    ("attempts", "destination", "TEXT"),
    ("events", "delivery_key", "INTEGER"),
    ("events", "attempt_at", "INTEGER"),
    ("events", "attempt_status", "INTEGER"),
    ("events", "attempt_duration_ms", "INTEGER"),
    ("events", "attempt_answer", "TEXT"),
    ("events", "attempt_destination", "TEXT"),
];

/// Adds what a log made by an earlier version lacks, and marks the file
/// [`VERSION`]; a new file (no tables yet) is left to the schema. Run
/// before the schema, whose indexes name the added columns. One
/// transaction, taken before the version is read again: a fill cut short
/// (a crash, a busy file) leaves nothing that would tell the next open it
/// is done, and another process upgrading at the same time waits, then
/// finds nothing to do.
pub fn upgrade(connection: &Connection) -> rusqlite::Result<()> {
    if is_current(connection)? {
        return Ok(());
    }
    let transaction = Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    if !is_current(&transaction)? {
        let mut keys_added = false;
        for (table, column, kind) in ADDED {
            if has_table(&transaction, table)? && !has_column(&transaction, table, column)? {
                transaction
                    .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
                keys_added |= *column == "delivery_key";
            }
        }
        if keys_added {
            fill_delivery_keys(&transaction)?;
        }
        transaction.pragma_update(None, "user_version", VERSION)?;
    }
    transaction.commit()
}

/// Whether the log at `connection` is at [`VERSION`]; an error for a log
/// written by a newer hookgate, whose layout this one's queries may not
/// suit (an earlier version than 2 read a log of 2 by scanning it for
/// every id: refusing is the better way to fail).
pub fn is_current(connection: &Connection) -> rusqlite::Result<bool> {
    Ok(version(connection)? == VERSION)
}

/// Whether the log at `connection` has every column a reader reads (1
/// added them; 2 changed only what a new file indexes): a reader without
/// write access reads it as it is. An error for a newer hookgate's log.
pub fn is_readable(connection: &Connection) -> rusqlite::Result<bool> {
    Ok(version(connection)? >= 1)
}

/// The log's version; an error past [`VERSION`].
fn version(connection: &Connection) -> rusqlite::Result<i64> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        let newer = format!(
            "event log schema version {version} is newer than this hookgate ({VERSION}); \
             move the file aside to start a new log"
        );
        let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR);
        return Err(rusqlite::Error::SqliteFailure(code, Some(newer)));
    }
    Ok(version)
}

fn has_table(connection: &Connection, table: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |row| row.get(0),
    )
}

fn has_column(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get(0),
    )
}

/// Gives the records of an earlier log their delivery keys, so that a
/// search by delivery id finds them too.
fn fill_delivery_keys(connection: &Connection) -> rusqlite::Result<()> {
    let mut read = connection
        .prepare("SELECT rowid, delivery_id FROM events WHERE delivery_id IS NOT NULL")?;
    let mut write = connection.prepare("UPDATE events SET delivery_key = ?2 WHERE rowid = ?1")?;
    let mut rows = read.query([])?;
    while let Some(row) = rows.next()? {
        let (rowid, delivery_id): (i64, String) = (row.get(0)?, row.get(1)?);
        write.execute(params![rowid, delivery_key(&delivery_id)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::query::{self, Filter};
    use super::*;

    /// The schema of the logs written before delivery keys and inline
    /// attempts (and before `attempts.destination`).
    const EARLIER: &str = "
        CREATE TABLE events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL,
            route TEXT NOT NULL, request_id TEXT NOT NULL, delivery_id TEXT,
            status INTEGER NOT NULL, outcome TEXT NOT NULL, reason TEXT,
            body_size INTEGER NOT NULL, duration_ms INTEGER NOT NULL, headers TEXT, body BLOB);
        CREATE INDEX events_by_route ON events (route, id);
        CREATE INDEX events_by_delivery_id ON events (delivery_id);
        CREATE TABLE attempts (event_id TEXT NOT NULL, route TEXT NOT NULL,
            at INTEGER NOT NULL, status INTEGER, duration_ms INTEGER NOT NULL, answer TEXT NOT NULL);
        CREATE INDEX attempts_by_event ON attempts (event_id);
        INSERT INTO events VALUES ('0193a6f2-0000-7000-8000-000000000001', 1, 'chatwoot', 'r1',
            'delivery-1', 500, 'downstream_error', 'down', 2, 3, NULL, x'7b7d');
        INSERT INTO attempts VALUES ('0193a6f2-0000-7000-8000-000000000001', 'chatwoot', 1, 500, 3, 'down');";

    #[test]
    fn a_log_of_a_newer_hookgate_is_refused_by_the_writer_and_the_reader_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookgate-events.db");
        drop(super::super::writer::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", VERSION + 1)
            .unwrap();

        let written = super::super::writer::open(&path).map(drop);
        let read = query::open(&path).map(drop);

        for refused in [written, read] {
            let error = refused.expect_err("a newer log is refused").to_string();
            assert!(error.contains("newer than this hookgate"), "{error}");
        }
    }

    #[test]
    fn a_log_of_version_1_is_read_as_it_is_without_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookgate-events.db");
        drop(super::super::writer::open(&path).unwrap());
        let version_1 = Connection::open(&path).unwrap();
        version_1.pragma_update(None, "user_version", 1).unwrap();

        let read = query::open(&path).unwrap().expect("the log is there");

        assert!(
            query::list(
                &read,
                &Filter {
                    limit: 1,
                    ..Filter::default()
                }
            )
            .is_ok()
        );
        let version: i64 = version_1
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 1);
    }

    #[test]
    fn a_log_of_an_earlier_version_read_before_the_gateway_opens_it_is_upgraded_and_found_by_delivery_id()
     {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookgate-events.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(EARLIER)
            .unwrap();

        // Read before the gateway has opened it: the reader upgrades it.
        let connection = query::open(&path).unwrap().unwrap();
        let filter = Filter {
            delivery_id: Some("delivery-1".into()),
            limit: 10,
            ..Filter::default()
        };
        let found = query::list(&connection, &filter).unwrap().records;
        assert_eq!(found.len(), 1, "{found:?}");
        let record = query::get(&connection, &found[0].id).unwrap().unwrap();
        assert_eq!(record.attempts.len(), 1);
        assert_eq!(record.attempts[0].status, Some(500));
        assert_eq!(record.attempts[0].destination, None);
        assert_eq!(record.body.as_deref(), Some(&b"{}"[..]));
    }
}
