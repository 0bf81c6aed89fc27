-- The log's outcome and kind filters: a page of a rare outcome or kind
-- (one lock among a million logins) reads that value's newest events in
-- id order instead of scanning the log backwards until the page is full.
-- Issue "Performance": a filtered page of a million events within 20 ms.

-- +goose Up
CREATE INDEX audit_events_outcome ON audit_events (outcome, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
