-- Several helpdesk instances may share one database (PostgreSQL, issue 13).
-- leases: a task that one instance at a time must do (mailing the plugin's
-- second-factor notices) is done by the holder of its lease, renewed while
-- it works and taken over by another once it expires.
-- instances: each running instance says every few seconds whether its
-- plugin process runs, so that an uninstall can refuse while another
-- instance still runs the plugin. Times are Unix seconds (UTC).

-- +goose Up
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);

CREATE TABLE instances (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL DEFAULT '',
    plugin_running INTEGER NOT NULL CHECK (plugin_running IN (0, 1)),
    seen_at        BIGINT  NOT NULL
);
