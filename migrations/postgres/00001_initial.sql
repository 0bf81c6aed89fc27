-- The plugin's first schema on PostgreSQL: the tables, columns, indexes and
-- constraints of ../00001_initial.sql. Times and integer flags are BIGINT
-- (Unix seconds, UTC; 0 or 1), so the store's one SQL text serves both
-- engines.

-- +goose Up
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE secrets (
    key        TEXT PRIMARY KEY,
    ciphertext BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    username      TEXT   NOT NULL,
    email         TEXT   NOT NULL DEFAULT '',
    enabled       BIGINT NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    duo_alias     TEXT   NOT NULL DEFAULT '',
    enrolled_at   BIGINT,
    last_login_at BIGINT,
    changed_by    TEXT   NOT NULL DEFAULT '',
    changed_at    BIGINT NOT NULL
);

CREATE INDEX operators_enabled ON operators (enabled, id);

CREATE TABLE pending_logins (
    state_hash   BYTEA PRIMARY KEY,
    operator_id  TEXT   NOT NULL,
    duo_username TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);

CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    operator_id TEXT   NOT NULL DEFAULT '',
    actor       TEXT   NOT NULL DEFAULT '',
    client_ip   TEXT   NOT NULL DEFAULT '',
    outcome     TEXT   NOT NULL DEFAULT '',
    reason      TEXT   NOT NULL DEFAULT '',
    detail      TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at ON audit_events (at);
