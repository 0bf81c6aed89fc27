-- +goose Up
CREATE TABLE things (id BIGINT PRIMARY KEY, name TEXT NOT NULL);
