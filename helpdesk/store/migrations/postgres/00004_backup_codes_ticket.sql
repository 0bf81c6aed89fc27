-- See sqlite/00004_backup_codes_ticket.sql.

-- +goose Up
ALTER TABLE sessions ADD COLUMN backup_ticket TEXT NOT NULL DEFAULT '';
