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
INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at)
VALUES (@user_id, @purpose, @token_hash, @expires_at);

-- name: ConsumeEmailToken :one
-- Marks an unused, unexpired token used and returns its user; no row when
-- the token is unknown, used or expired.
UPDATE email_tokens SET used_at = now()
WHERE token_hash = @token_hash AND purpose = @purpose AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: ExpireEmailTokens :exec
-- Retires the user's outstanding tokens of a purpose when a new one is mailed
-- or the old ones become pointless.
UPDATE email_tokens SET used_at = now()
WHERE user_id = @user_id AND purpose = @purpose AND used_at IS NULL;
