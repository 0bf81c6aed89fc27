-- The helpdesk's mail. The outbox keeps what the demo would have mailed
-- when no SMTP server is configured, for an admin-only page; a recovery
-- link's text is a secret, so the table is as sensitive as the sessions.
-- The notice cursor is the id of the last of the plugin's second-factor
-- notices the helpdesk has handled, so that a restart neither mails a
-- notice twice nor skips one. Times are Unix seconds (UTC).

-- +goose Up
CREATE TABLE outbox (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    -- "to" is an SQL keyword, hence the quotes wherever it is named.
    "to"     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    text     TEXT    NOT NULL
) STRICT;

-- One row, created here, so that reading the cursor never has to tell
-- "never set" from "missing". Uninstalling the plugin resets it to 0: a
-- reinstalled plugin numbers its notices from 1 again.
CREATE TABLE notice_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    after_id INTEGER NOT NULL CHECK (after_id >= 0)
) STRICT;
INSERT INTO notice_cursor (id, after_id) VALUES (1, 0);
