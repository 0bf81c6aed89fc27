-- See sqlite/00005_service_accounts.sql.

-- +goose Up
ALTER TABLE operators ADD COLUMN service_account INTEGER NOT NULL DEFAULT 0 CHECK (service_account IN (0, 1));
