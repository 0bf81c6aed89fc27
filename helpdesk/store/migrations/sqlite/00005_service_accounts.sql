-- A service account is an operator that signs in from a program (an API
-- client, an integration), never a person at a browser: it cannot answer a
-- Duo prompt. The helpdesk tells the plugin which operators are service
-- accounts on every call; whether they may skip Duo is the plugin's
-- setting (allow_service_account_exemption), and each exempt sign-in is in
-- its authentication log. Off for every existing operator.

-- +goose Up
ALTER TABLE operators ADD COLUMN service_account INTEGER NOT NULL DEFAULT 0 CHECK (service_account IN (0, 1));
