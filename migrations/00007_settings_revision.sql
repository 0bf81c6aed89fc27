-- The settings' revision: one row, raised by every save of the settings in
-- the same transaction. Each instance of the plugin keeps the settings in
-- memory; one read of this row tells it whether another instance (sharing
-- a PostgreSQL store) saved newer ones, which it then loads before using
-- them.

-- +goose Up
CREATE TABLE settings_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO settings_revision (id, revision) VALUES (1, 0);
