-- name: CreateUser :one
INSERT INTO users (email, display_name, role, email_verified_at)
VALUES (@email, @display_name, @role, sqlc.narg(email_verified_at))
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = @email;

-- name: UpdateProfile :one
UPDATE users
SET display_name = coalesce(sqlc.narg(display_name), display_name),
    bio          = coalesce(sqlc.narg(bio), bio),
    timezone     = coalesce(sqlc.narg(timezone), timezone),
    updated_at   = now()
WHERE id = @id
RETURNING *;

-- name: SetAvatarKey :one
UPDATE users SET avatar_key = @avatar_key, updated_at = now() WHERE id = @id RETURNING *;

-- name: SetUserRole :one
UPDATE users SET role = @role, updated_at = now() WHERE id = @id RETURNING *;

-- name: MarkEmailVerified :exec
UPDATE users SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now() WHERE id = @id;

-- name: ListUsers :many
-- Keyset pagination on (created_at, id); filters are optional.
SELECT u.* FROM users u
WHERE (sqlc.narg(role)::text IS NULL OR u.role = sqlc.narg(role))
  AND (sqlc.narg(organization_id)::uuid IS NULL OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.organization_id = sqlc.narg(organization_id)))
  AND (sqlc.narg(query)::text IS NULL
       OR u.email ILIKE '%' || sqlc.narg(query) || '%'
       OR u.display_name ILIKE '%' || sqlc.narg(query) || '%')
  AND (sqlc.narg(after_time)::timestamptz IS NULL
       OR (u.created_at, u.id) > (sqlc.narg(after_time), sqlc.narg(after_id)::uuid))
ORDER BY u.created_at, u.id
LIMIT @lim;

-- name: GetSessionState :one
-- What authorization needs about an account, read on every call (cached).
SELECT role, session_epoch, (suspended_at IS NOT NULL)::bool AS suspended FROM users WHERE id = @id;

-- name: EndSessions :one
-- Starts a new session epoch: every access token issued before is refused
-- from now on. The caller revokes the refresh tokens in the same
-- transaction.
UPDATE users SET session_epoch = session_epoch + 1, updated_at = now() WHERE id = @id
RETURNING role, session_epoch, (suspended_at IS NOT NULL)::bool AS suspended;

-- name: SetUserSuspended :one
UPDATE users
SET suspended_at = CASE WHEN @suspended::bool THEN coalesce(suspended_at, now()) END,
    updated_at   = now()
WHERE id = @id
RETURNING *;

-- name: SetDisplayName :exec
UPDATE users SET display_name = @display_name, updated_at = now() WHERE id = @id;
