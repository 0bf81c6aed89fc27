-- A third role, help desk, between admin and agent (Duo's Help Desk role):
-- it sees every operator's second factor and issues bypass codes, nothing
-- more. SQLite cannot change a CHECK constraint in place, so the operators
-- table is rebuilt the way SQLite documents ("Making Other Kinds Of Table
-- Schema Changes"): foreign keys off for the copy (else dropping the old
-- table would cascade to the sessions), the rebuild in one transaction.
-- Every id is copied as it is, so what points at an operator (sessions,
-- tickets) still points at the same one; migrate_test checks that. It is
-- one statement block, so that it runs on one connection, and idempotent,
-- so that a crash between its commit and goose's record of it is harmless.

-- +goose NO TRANSACTION
-- +goose Up
-- +goose StatementBegin
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE operators_v3 (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email          TEXT    NOT NULL DEFAULT '',
    display_name   TEXT    NOT NULL DEFAULT '',
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'helpdesk', 'agent')),
    password_hash  TEXT    NOT NULL,
    totp_secret    TEXT    NOT NULL DEFAULT '',
    totp_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (totp_confirmed IN (0, 1)),
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
) STRICT;
INSERT INTO operators_v3 (id, username, email, display_name, role, password_hash, totp_secret, totp_confirmed, totp_last_step, created_at)
    SELECT id, username, email, display_name, role, password_hash, totp_secret, totp_confirmed, totp_last_step, created_at FROM operators;
DROP TABLE operators;
ALTER TABLE operators_v3 RENAME TO operators;
COMMIT;
PRAGMA foreign_keys = ON;
-- +goose StatementEnd
