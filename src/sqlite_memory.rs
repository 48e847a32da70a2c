//! One memory budget for every SQLite connection of the process.
//!
//! The queue's store and the event log each hold several connections (a
//! writer, a reader, the log's checkpointer), and each connection's page
//! cache grows to its own limit under load: a queued run took SQLite's
//! heap to 13.6 MB, and glibc's arenas (SQLite allocates through malloc,
//! not through the Rust allocator) kept much of it once freed. A soft heap
//! limit makes SQLite recycle its cached pages once all connections
//! together hold more than [`SOFT_HEAP_LIMIT`]. It is advisory: SQLite
//! exceeds it rather than fail (a transaction's dirty pages stay), so it
//! costs a page read again from the OS's cache, never an error.

use rusqlite::Connection;

/// What SQLite's page caches may hold together before it recycles their
/// pages. Measured (bench/README.md): the queued route's peak RSS went from
/// 47.8 to 36 or 37 MiB, at the same throughput; the pages a writer needs (the
/// right edge of each B-tree) fit many times over.
pub const SOFT_HEAP_LIMIT: i64 = 4 * 1024 * 1024;

/// Sets the process's soft heap limit; the pragma is process-wide, so a
/// connection of its own (in memory) sets it for every other.
pub fn limit() -> rusqlite::Result<()> {
    let connection = Connection::open_in_memory()?;
    connection.pragma_update(None, "soft_heap_limit", SOFT_HEAP_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_of_the_process_shares_the_soft_heap_limit() {
        limit().unwrap();

        let other = Connection::open_in_memory().unwrap();
        let set: i64 = other
            .pragma_query_value(None, "soft_heap_limit", |row| row.get(0))
            .unwrap();
        assert_eq!(set, SOFT_HEAP_LIMIT);
    }
}
