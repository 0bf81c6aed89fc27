-- Policy and the authentication log: per-operator lockout after repeated
-- second-factor failures, and the columns and indexes the log's filters
-- and paging need. Times are Unix seconds (UTC).

-- +goose Up

-- Failures since the last success or unlock; locked_at is set when they
-- reach the lockout threshold, and locked_until ends the lockout by itself
-- (NULL: only an unlock does).
ALTER TABLE operators ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0);
ALTER TABLE operators ADD COLUMN locked_at INTEGER;
ALTER TABLE operators ADD COLUMN locked_until INTEGER;

-- The browser's user agent, as the host reported it.
ALTER TABLE audit_events ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

-- Keyset paging newest first, by operator and overall (the primary key),
-- and the 24-hour counts by time.
CREATE INDEX audit_events_operator ON audit_events (operator_id, id);
