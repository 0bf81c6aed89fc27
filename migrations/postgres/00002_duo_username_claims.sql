-- ../00002_duo_username_claims.sql on PostgreSQL.

-- +goose Up
ALTER TABLE operators ADD COLUMN duo_username TEXT;
CREATE UNIQUE INDEX operators_duo_username ON operators (duo_username) WHERE duo_username IS NOT NULL;
