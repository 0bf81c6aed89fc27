-- ../00007_settings_revision.sql on PostgreSQL: the settings' revision,
-- raised by every save, read before an instance uses its settings in
-- memory.

-- +goose Up
CREATE TABLE settings_revision (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO settings_revision (id, revision) VALUES (1, 0);
