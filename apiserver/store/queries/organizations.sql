-- name: CreateOrganization :one
INSERT INTO organizations (slug, name, description, created_by)
VALUES (@slug, @name, @description, @created_by)
RETURNING *;

-- name: GetOrganization :one
SELECT o.*, (SELECT count(*) FROM memberships m WHERE m.organization_id = o.id)::int AS member_count
FROM organizations o WHERE o.id = @id;

-- name: UpdateOrganization :one
UPDATE organizations
SET name        = coalesce(sqlc.narg(name), name),
    description = coalesce(sqlc.narg(description), description),
    updated_at  = now()
WHERE id = @id
RETURNING *;

-- name: ListOrganizations :many
-- All organizations, or only those the user belongs to when user_id is set.
SELECT o.*, (SELECT count(*) FROM memberships m WHERE m.organization_id = o.id)::int AS member_count
FROM organizations o
WHERE (sqlc.narg(user_id)::uuid IS NULL OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.organization_id = o.id AND m.user_id = sqlc.narg(user_id)))
  AND (sqlc.narg(after_time)::timestamptz IS NULL
       OR (o.created_at, o.id) > (sqlc.narg(after_time), sqlc.narg(after_id)::uuid))
ORDER BY o.created_at, o.id
LIMIT @lim;

-- name: UpsertMembership :one
INSERT INTO memberships (organization_id, user_id, role) VALUES (@organization_id, @user_id, @role)
ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role
RETURNING *;

-- name: GetMembership :one
SELECT * FROM memberships WHERE organization_id = @organization_id AND user_id = @user_id;

-- name: DeleteMembership :execrows
DELETE FROM memberships WHERE organization_id = @organization_id AND user_id = @user_id;

-- name: CountOwners :one
SELECT count(*)::int FROM memberships WHERE organization_id = @organization_id AND role = 'owner';

-- name: LockOrganization :exec
SELECT 1 FROM organizations WHERE id = @id FOR UPDATE;

-- name: ListMembers :many
SELECT m.organization_id, m.user_id, m.role, m.created_at, u.display_name, u.email
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = @organization_id
  AND (sqlc.narg(after_time)::timestamptz IS NULL
       OR (m.created_at, m.user_id) > (sqlc.narg(after_time), sqlc.narg(after_id)::uuid))
ORDER BY m.created_at, m.user_id
LIMIT @lim;

-- name: ListUserMemberships :many
SELECT m.organization_id, m.role, o.name AS organization_name
FROM memberships m JOIN organizations o ON o.id = m.organization_id
WHERE m.user_id = @user_id
ORDER BY o.name, o.id;

-- name: GetOrganizationForUpdate :one
-- Locks the organization row for the rest of the transaction, so membership
-- changes that check the owner count run one at a time.
SELECT * FROM organizations WHERE id = @id FOR UPDATE;

-- name: GetMember :one
SELECT m.organization_id, m.user_id, m.role, m.created_at, u.display_name, u.email
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = @organization_id AND m.user_id = @user_id;

-- name: UpsertInvitation :one
-- Invites a user, or renews a pending invitation with a new role.
INSERT INTO invitations (organization_id, user_id, role, invited_by, expires_at)
VALUES (@organization_id, @user_id, @role, @invited_by, @expires_at)
ON CONFLICT (organization_id, user_id) DO UPDATE
SET role = excluded.role, invited_by = excluded.invited_by, created_at = now(), expires_at = excluded.expires_at
RETURNING id;

-- name: GetInvitation :one
SELECT i.id, i.organization_id, i.user_id, i.role, i.invited_by, i.created_at, i.expires_at,
       o.name AS organization_name, u.display_name AS invitee_name
FROM invitations i
JOIN organizations o ON o.id = i.organization_id
JOIN users u ON u.id = i.user_id
WHERE i.id = @id;

-- name: GetInvitationForUpdate :one
SELECT * FROM invitations WHERE id = @id FOR UPDATE;

-- name: DeleteInvitation :execrows
DELETE FROM invitations WHERE id = @id;

-- name: ListUserInvitations :many
-- A user's pending, unexpired invitations, oldest first.
SELECT i.id, i.organization_id, i.user_id, i.role, i.invited_by, i.created_at, i.expires_at,
       o.name AS organization_name, u.display_name AS invitee_name
FROM invitations i
JOIN organizations o ON o.id = i.organization_id
JOIN users u ON u.id = i.user_id
WHERE i.user_id = @user_id AND i.expires_at > now()
  AND (sqlc.narg(after_time)::timestamptz IS NULL
       OR (i.created_at, i.id) > (sqlc.narg(after_time), sqlc.narg(after_id)::uuid))
ORDER BY i.created_at, i.id
LIMIT @lim;

-- name: ListOrganizationInvitations :many
-- An organization's pending, unexpired invitations, oldest first.
SELECT i.id, i.organization_id, i.user_id, i.role, i.invited_by, i.created_at, i.expires_at,
       o.name AS organization_name, u.display_name AS invitee_name
FROM invitations i
JOIN organizations o ON o.id = i.organization_id
JOIN users u ON u.id = i.user_id
WHERE i.organization_id = @organization_id AND i.expires_at > now()
  AND (sqlc.narg(after_time)::timestamptz IS NULL
       OR (i.created_at, i.id) > (sqlc.narg(after_time), sqlc.narg(after_id)::uuid))
ORDER BY i.created_at, i.id
LIMIT @lim;

-- name: InsertMembership :execrows
-- Adds a member; no row when the user is one already.
INSERT INTO memberships (organization_id, user_id, role) VALUES (@organization_id, @user_id, @role)
ON CONFLICT (organization_id, user_id) DO NOTHING;
