-- The reference helpdesk's first schema: operators, server-side sessions,
-- failed-login records for rate limiting, the installed plugins and a few
-- tickets. Times are Unix seconds (UTC).

-- +goose Up
CREATE TABLE operators (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email          TEXT    NOT NULL DEFAULT '',
    display_name   TEXT    NOT NULL DEFAULT '',
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash  TEXT    NOT NULL,
    -- Built-in two-factor: a TOTP secret (base32), usable once confirmed.
    totp_secret    TEXT    NOT NULL DEFAULT '',
    totp_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (totp_confirmed IN (0, 1)),
    -- The last accepted TOTP time step, so that a code is never accepted twice.
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
) STRICT;

-- Sessions are kept server side; the cookie holds a random id and the
-- table only its SHA-256.
CREATE TABLE sessions (
    id_hash       BLOB    PRIMARY KEY,
    -- anonymous: before the password (carries the login form's CSRF token);
    -- pending: password checked, second factor under way;
    -- authenticated: signed in.
    kind          TEXT    NOT NULL CHECK (kind IN ('anonymous', 'pending', 'authenticated')),
    operator_id   INTEGER REFERENCES operators (id) ON DELETE CASCADE,
    -- For pending sessions: 'duo' or 'totp'.
    second_factor TEXT    NOT NULL DEFAULT '',
    -- The state BeginLogin returned, kept for CompleteLogin. Secret.
    duo_state     TEXT    NOT NULL DEFAULT '',
    next_path     TEXT    NOT NULL DEFAULT '',
    csrf_token    TEXT    NOT NULL,
    flash         TEXT    NOT NULL DEFAULT '',
    flash_kind    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_operator ON sessions (operator_id);

-- One row per failed sign-in step, per scope ('user' keyed by the
-- lower-cased username, 'ip' keyed by the client address).
CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    scope TEXT    NOT NULL CHECK (scope IN ('user', 'ip')),
    key   TEXT    NOT NULL,
    at    INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key ON login_failures (scope, key, at);

-- What the helpdesk knows about each plugin: whether it is installed and
-- active (so that a restart re-activates it, and so that the login path can
-- fail closed), where its bundle and its data live.
CREATE TABLE plugins (
    id         TEXT    PRIMARY KEY,
    installed  INTEGER NOT NULL CHECK (installed IN (0, 1)),
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    bundle_dir TEXT    NOT NULL DEFAULT '',
    data_dir   TEXT    NOT NULL DEFAULT '',
    version    TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE tickets (
    id         INTEGER PRIMARY KEY,
    subject    TEXT    NOT NULL,
    requester  TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by INTEGER REFERENCES operators (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
) STRICT;
