-- ../00006_log_filter_indexes.sql on PostgreSQL.

-- +goose Up
CREATE INDEX audit_events_outcome ON audit_events (outcome, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
