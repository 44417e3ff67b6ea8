-- name: SetPassword :exec
INSERT INTO credentials (user_id, password_hash) VALUES (@user_id, @password_hash)
ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = now();

-- name: GetPassword :one
SELECT password_hash FROM credentials WHERE user_id = @user_id;

-- name: CreateRefreshToken :one
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (@user_id, @family_id, @token_hash, @expires_at)
RETURNING *;

-- name: GetRefreshTokenForUpdate :one
SELECT * FROM refresh_tokens WHERE token_hash = @token_hash FOR UPDATE;

-- name: MarkRefreshTokenUsed :exec
UPDATE refresh_tokens SET used_at = now() WHERE id = @id;

-- name: RevokeRefreshFamily :exec
UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = @family_id AND revoked_at IS NULL;

-- name: RevokeUserRefreshTokens :exec
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: CreateEmailToken :exec
-- A verification token carries the password hash and display name of its
-- registration (NULL for other tokens).
INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at, password_hash, display_name)
VALUES (@user_id, @purpose, @token_hash, @expires_at, sqlc.narg(password_hash), sqlc.narg(display_name));

-- name: ConsumeEmailToken :one
-- Marks an unused, unexpired token used and returns its user; no row when
-- the token is unknown, used or expired.
UPDATE email_tokens SET used_at = now()
WHERE token_hash = @token_hash AND purpose = @purpose AND used_at IS NULL AND expires_at > now()
RETURNING user_id, password_hash, display_name;

-- name: PeekEmailToken :one
-- The user of an unused, unexpired token, without using it: checked before
-- any expensive work the token would authorize.
SELECT user_id FROM email_tokens
WHERE token_hash = @token_hash AND purpose = @purpose AND used_at IS NULL AND expires_at > now();

-- name: LatestRegistration :one
-- What the most recent registration of an unverified account chose, for a
-- new verification link.
SELECT password_hash, display_name FROM email_tokens
WHERE user_id = @user_id AND purpose = 'verify_email'
ORDER BY created_at DESC
LIMIT 1;

-- name: ExpireEmailTokens :exec
-- Retires the user's outstanding tokens of a purpose when a new one is mailed
-- or the old ones become pointless.
UPDATE email_tokens SET used_at = now()
WHERE user_id = @user_id AND purpose = @purpose AND used_at IS NULL;

-- name: DeletePassword :exec
DELETE FROM credentials WHERE user_id = @user_id;
