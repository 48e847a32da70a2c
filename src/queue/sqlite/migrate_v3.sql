-- Version 3: an event id is unique per queue, not in the whole file, so
-- that one event can wait in several destinations' queues. SQLite cannot
-- drop a column's UNIQUE: the table is copied. Dropping the old one drops
-- its indexes and triggers; schema.sql then makes them again. `counts` is
-- left as it is: the rows are the same.
CREATE TABLE events_v3 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    route TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    received_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_at INTEGER,
    request_id TEXT NOT NULL,
    headers BLOB NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (route, id)
);
INSERT INTO events_v3 (seq, id, route, state, received_at, next_attempt_at, attempts,
                       last_error, finished_at, request_id, headers, body)
    SELECT seq, id, route, state, received_at, next_attempt_at, attempts,
           last_error, finished_at, request_id, headers, body
    FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
