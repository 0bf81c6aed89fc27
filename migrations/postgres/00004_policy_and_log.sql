-- ../00004_policy_and_log.sql on PostgreSQL: the lockout and the log's
-- filters.

-- +goose Up
ALTER TABLE operators ADD COLUMN failed_attempts BIGINT NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0);
ALTER TABLE operators ADD COLUMN locked_at BIGINT;
ALTER TABLE operators ADD COLUMN locked_until BIGINT;

ALTER TABLE audit_events ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

CREATE INDEX audit_events_operator ON audit_events (operator_id, id);
