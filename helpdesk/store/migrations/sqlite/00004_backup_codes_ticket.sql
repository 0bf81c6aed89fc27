-- While an operator confirms their first backup codes, the pending session
-- keeps the plugin's ticket that issues them (a secret, gone with the
-- session). The codes themselves are never stored here: the contract says
-- hosts show them, and keep them nowhere.

-- +goose Up
ALTER TABLE sessions ADD COLUMN backup_ticket TEXT NOT NULL DEFAULT '';
