-- Recovery of a lost second factor: backup codes (confirmed by the operator
-- before they count), bypass codes issued by the help desk, recovery links
-- sent by an administrator, and the notices of every second-factor change.
--
-- No code, token or ticket is stored: only its HMAC-SHA256 under a key
-- derived from secrets.key, bound to the operator and to what it is for.
-- Single-use rows are spent by one conditional UPDATE (used_at IS NULL, or
-- uses_left > 0 and not expired and not revoked), so of many concurrent
-- redemptions exactly one wins. Times are Unix seconds (UTC).

-- +goose Up

-- When the current set of backup codes was confirmed (NULL: none yet), and
-- when the operator last proved their second factor to the plugin (Duo or a
-- code), which RegenerateBackupCodes requires to be recent.
ALTER TABLE operators ADD COLUMN backup_codes_issued_at INTEGER;
ALTER TABLE operators ADD COLUMN second_factor_at INTEGER;

-- The operator's confirmed backup codes; a new set replaces the old one.
CREATE TABLE backup_codes (
    operator_id TEXT    NOT NULL REFERENCES operators (id),
    code_hash   BLOB    NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (operator_id, code_hash)
) STRICT;

-- A set shown to the operator and not yet confirmed: never usable. The
-- ticket is stored as its hash; code_hashes is the set's hashes, each 32
-- bytes, end to end. At most one per operator is kept: a newer set replaces
-- an unconfirmed older one.
CREATE TABLE backup_code_tickets (
    ticket_hash BLOB PRIMARY KEY,
    operator_id TEXT    NOT NULL REFERENCES operators (id),
    code_hashes BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX backup_code_tickets_operator ON backup_code_tickets (operator_id);
CREATE INDEX backup_code_tickets_expiry ON backup_code_tickets (expires_at);

-- Bypass codes: a few uses within a lifetime, revocable. The id is random
-- and shown to admins; the code never is again.
CREATE TABLE bypass_codes (
    id          TEXT PRIMARY KEY,
    operator_id TEXT    NOT NULL REFERENCES operators (id),
    code_hash   BLOB    NOT NULL UNIQUE,
    issued_by   TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX bypass_codes_operator ON bypass_codes (operator_id, issued_at);

-- Recovery links: single use, for one operator, until expires_at.
CREATE TABLE recovery_links (
    token_hash  BLOB PRIMARY KEY,
    operator_id TEXT    NOT NULL REFERENCES operators (id),
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;

CREATE INDEX recovery_links_operator ON recovery_links (operator_id);

-- Who acted, as the host vouched for them, and the notice an event is
-- (a kind of contract.NoticeKind, '' for none) for ListNotices.
ALTER TABLE audit_events ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN actor_role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN notice TEXT NOT NULL DEFAULT '';

CREATE INDEX audit_events_notices ON audit_events (id) WHERE notice != '';
