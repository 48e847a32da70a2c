-- The store of queued events (hookgate's `[store] path`), SQLite in WAL mode.
-- Times are unix milliseconds; `headers` holds the forwarded headers as
-- `name: value` lines (cast(headers AS TEXT) shows them), `body` the exact
-- bytes the source sent. Inspect with:
--   sqlite3 data/hookgate.db "SELECT id, route, state, attempts, last_error FROM events"
-- An event for several destinations is stored once per destination's queue
-- (`route` holds the queue: `ROUTE` or `ROUTE:DEST`), under one id.
CREATE TABLE IF NOT EXISTS events (
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
CREATE INDEX IF NOT EXISTS events_in_order ON events (route, state, seq, next_attempt_at);
-- Events waiting for a retry, by due time. A fresh event is due at once and
-- stays out of it: one index fewer to update per ingest and per delivery.
-- (Version 1 indexed every event's due time.)
DROP INDEX IF EXISTS events_by_due_time;
CREATE INDEX IF NOT EXISTS events_retrying ON events (route, next_attempt_at)
    WHERE state = 'pending' AND attempts > 0;
CREATE TABLE IF NOT EXISTS counts (
    route TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (route, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS count_insert AFTER INSERT ON events BEGIN
    INSERT INTO counts VALUES (NEW.route, NEW.state, 1)
        ON CONFLICT (route, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS count_delete AFTER DELETE ON events BEGIN
    UPDATE counts SET n = n - 1 WHERE route = OLD.route AND state = OLD.state;
END;
CREATE TRIGGER IF NOT EXISTS count_state AFTER UPDATE OF state ON events
WHEN OLD.state <> NEW.state BEGIN
    UPDATE counts SET n = n - 1 WHERE route = OLD.route AND state = OLD.state;
    INSERT INTO counts VALUES (NEW.route, NEW.state, 1)
        ON CONFLICT (route, state) DO UPDATE SET n = n + 1;
END;
