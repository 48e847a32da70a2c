-- The event log: one row per request that reached a route, whatever its
-- outcome, and one per delivery attempt. Read it with the sqlite3 shell;
-- docs/event-log.md describes each column.
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,   -- UUIDv7 (time-ordered), X-Hookgate-Event-Id
    received_at INTEGER NOT NULL,   -- Unix milliseconds
    route       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    delivery_id TEXT,               -- the source's own id (X-Chatwoot-Delivery, ...)
    status      INTEGER NOT NULL,   -- the answer's status
    outcome     TEXT NOT NULL,      -- as in hookgate_requests_total
    reason      TEXT,               -- why it was refused or failed
    body_size   INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    headers     TEXT,               -- JSON [[name, value], ...], secrets redacted
    body        BLOB                -- verified bytes, when the route keeps them
);
CREATE INDEX IF NOT EXISTS events_by_route ON events (route, id);
CREATE INDEX IF NOT EXISTS events_by_delivery_id ON events (delivery_id);

CREATE TABLE IF NOT EXISTS attempts (
    event_id    TEXT NOT NULL,
    route       TEXT NOT NULL,
    at          INTEGER NOT NULL,   -- Unix milliseconds
    status      INTEGER,            -- the downstream's status; NULL: no answer
    duration_ms INTEGER NOT NULL,
    answer      TEXT NOT NULL,      -- the first KiB of the answer, or the error
    destination TEXT                -- the destination called; NULL in older logs
);
CREATE INDEX IF NOT EXISTS attempts_by_event ON attempts (event_id);
-- Attempts are pruned through their events' ids, not by route: one index
-- less to write per request. (Dropped from logs made by earlier versions.)
DROP INDEX IF EXISTS attempts_by_route;
