-- ../00003_recovery.sql on PostgreSQL: backup codes, bypass codes,
-- recovery links and notices.

-- +goose Up
ALTER TABLE operators ADD COLUMN backup_codes_issued_at BIGINT;
ALTER TABLE operators ADD COLUMN second_factor_at BIGINT;

CREATE TABLE backup_codes (
    operator_id TEXT   NOT NULL REFERENCES operators (id),
    code_hash   BYTEA  NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (operator_id, code_hash)
);

CREATE TABLE backup_code_tickets (
    ticket_hash BYTEA PRIMARY KEY,
    operator_id TEXT   NOT NULL REFERENCES operators (id),
    code_hashes BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX backup_code_tickets_operator ON backup_code_tickets (operator_id);
CREATE INDEX backup_code_tickets_expiry ON backup_code_tickets (expires_at);

CREATE TABLE bypass_codes (
    id          TEXT PRIMARY KEY,
    operator_id TEXT   NOT NULL REFERENCES operators (id),
    code_hash   BYTEA  NOT NULL UNIQUE,
    issued_by   TEXT   NOT NULL,
    issued_at   BIGINT NOT NULL,
    uses_left   BIGINT NOT NULL CHECK (uses_left >= 0),
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX bypass_codes_operator ON bypass_codes (operator_id, issued_at);

CREATE TABLE recovery_links (
    token_hash  BYTEA PRIMARY KEY,
    operator_id TEXT   NOT NULL REFERENCES operators (id),
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE INDEX recovery_links_operator ON recovery_links (operator_id);

ALTER TABLE audit_events ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN actor_role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN notice TEXT NOT NULL DEFAULT '';

CREATE INDEX audit_events_notices ON audit_events (id) WHERE notice != '';
