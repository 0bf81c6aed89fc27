-- Each operator's Duo username, as last resolved (the alias, or the name
-- derived from the helpdesk account), canonical (RFC 8265). The unique
-- index makes two operators resolving to one Duo username impossible: the
-- second one's login is refused instead of reaching the first one's Duo
-- account. NULL until the operator's next login or alias change: claims
-- are not derived here, because two existing aliases could collide and a
-- failed migration would keep the plugin from activating at all.

-- +goose Up
ALTER TABLE operators ADD COLUMN duo_username TEXT;
CREATE UNIQUE INDEX operators_duo_username ON operators (duo_username) WHERE duo_username IS NOT NULL;

