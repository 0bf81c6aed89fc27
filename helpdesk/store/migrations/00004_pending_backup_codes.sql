-- While an operator confirms their first backup codes, the pending session
-- keeps them (to show again and to download) and the plugin's ticket that
-- issues them. Secrets, gone with the session.

-- +goose Up
ALTER TABLE sessions ADD COLUMN backup_codes TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN backup_ticket TEXT NOT NULL DEFAULT '';
