-- When the operator last proved their second factor with Duo itself.
-- second_factor_at counts backup and bypass codes too; replacing the
-- backup codes needs a recent sign-in with Duo, so that a bypass code
-- handed out by the help desk, or one backup code someone saw, never
-- turns into a lasting set of codes. Unix seconds (UTC).

-- +goose Up
ALTER TABLE operators ADD COLUMN duo_factor_at INTEGER;
