-- ../00005_duo_factor.sql on PostgreSQL.

-- +goose Up
ALTER TABLE operators ADD COLUMN duo_factor_at BIGINT;
