-- A third role, help desk (see sqlite/00003_help_desk_role.sql). PostgreSQL
-- changes a CHECK constraint in place; ids and references are untouched.

-- +goose Up
ALTER TABLE operators DROP CONSTRAINT operators_role_check,
    ADD CONSTRAINT operators_role_check CHECK (role IN ('admin', 'helpdesk', 'agent'));
