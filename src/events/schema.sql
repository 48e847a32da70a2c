-- The event log: one row per request that reached a route, whatever its
-- outcome, and one per delivery attempt of a queued event. Read it with
-- the sqlite3 shell; docs/event-log.md describes each column.
--
-- `id` is found through the route index below, not an index of its own:
-- one b-tree less to write and prune per record (with the prune's skip of
-- routes without attempts, the writer's time per record, metadata only,
-- went from 6.3 to 4.7 µs: bench/README.md). Logs made by earlier versions
-- keep their `id TEXT PRIMARY KEY`; every query works on both.
CREATE TABLE IF NOT EXISTS events (
    id          TEXT NOT NULL,      -- UUIDv7 (time-ordered), X-Hookgate-Event-Id
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
    body        BLOB,               -- verified bytes, when the route keeps them
    -- The first 8 bytes of SHA-256(delivery_id), big-endian: what finds a
    -- delivery id, from the route index below.
    delivery_key        INTEGER,
    -- A sync route's downstream call, kept in its request's row (one row
    -- per request written, not two); as the columns of `attempts`.
    attempt_at          INTEGER,
    attempt_status      INTEGER,
    attempt_duration_ms INTEGER,
    attempt_answer      TEXT,
    attempt_destination TEXT
);
-- A route's records in order, with their delivery keys: a record is found
-- by its route and id (`WHERE route = ? AND id = ?`), a search by
-- delivery id scans this index, never the rows. An index of its own on the
-- keys, random as most sources' ids are, was written all over on every
-- batch and cost more than the rest of the row (ids are time-ordered, so
-- this one only grows at its end).
CREATE INDEX IF NOT EXISTS events_by_route_key ON events (route, id, delivery_key);
-- Replaced by events_by_route_key. (Dropped from logs made by earlier versions.)
DROP INDEX IF EXISTS events_by_route;
DROP INDEX IF EXISTS events_by_delivery_key;
DROP INDEX IF EXISTS events_by_delivery_id;

-- The delivery attempts of queued events (a sync route's one call is in
-- its request's row).
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
