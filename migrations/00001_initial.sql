-- The plugin's first schema: settings, per-operator toggles, pending logins
-- and the audit log. Times are Unix seconds (UTC).

-- +goose Up
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Secrets are AES-GCM sealed with the key file beside the database.
CREATE TABLE secrets (
    key        TEXT PRIMARY KEY,
    ciphertext BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    username      TEXT    NOT NULL,
    email         TEXT    NOT NULL DEFAULT '',
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    duo_alias     TEXT    NOT NULL DEFAULT '',
    enrolled_at   INTEGER,
    last_login_at INTEGER,
    changed_by    TEXT    NOT NULL DEFAULT '',
    changed_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX operators_enabled ON operators (enabled, id);

-- One row per redirect to Duo. The state is stored only as its SHA-256;
-- used_at is set once, by a conditional UPDATE, so a replay loses.
CREATE TABLE pending_logins (
    state_hash   BLOB PRIMARY KEY,
    operator_id  TEXT    NOT NULL,
    duo_username TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;

CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    operator_id TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL DEFAULT '',
    client_ip   TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_events_at ON audit_events (at);
