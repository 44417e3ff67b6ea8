-- name: CreateProblem :one
INSERT INTO problems (slug, title, statement_md, difficulty, visibility, organization_id, author_id, tags, topics, hints, languages)
VALUES (@slug, @title, @statement_md, @difficulty, @visibility, sqlc.narg(organization_id), @author_id, @tags, @topics, @hints, @languages)
RETURNING *;

-- name: GetProblem :one
SELECT * FROM problems WHERE id = @id;

-- name: GetProblemBySlug :one
SELECT * FROM problems WHERE slug = @slug;

-- name: GetProblemForUpdate :one
SELECT * FROM problems WHERE id = @id FOR UPDATE;

-- name: UpdateProblem :one
UPDATE problems
SET title        = coalesce(sqlc.narg(title), title),
    statement_md = coalesce(sqlc.narg(statement_md), statement_md),
    difficulty   = coalesce(sqlc.narg(difficulty), difficulty),
    visibility   = coalesce(sqlc.narg(visibility), visibility),
    tags         = coalesce(sqlc.narg(tags)::text[], tags),
    topics       = coalesce(sqlc.narg(topics)::text[], topics),
    hints        = coalesce(sqlc.narg(hints)::text[], hints),
    languages    = coalesce(sqlc.narg(languages)::text[], languages),
    updated_at   = now()
WHERE id = @id
RETURNING *;

-- name: SetProblemStatus :one
UPDATE problems SET status = @status, updated_at = now() WHERE id = @id RETURNING *;

-- name: SetProblemPackage :one
-- Records an imported package and what was extracted from it.
UPDATE problems
SET package_key    = @package_key,
    package_sha256 = @package_sha256,
    package_size   = @package_size,
    package_tests  = @package_tests,
    sample_tests   = @sample_tests,
    validation     = @validation,
    time_limit_ms  = @time_limit_ms,
    memory_mib     = @memory_mib,
    output_mib     = @output_mib,
    samples        = @samples,
    statement_md   = CASE WHEN @statement_md::text = '' THEN statement_md ELSE @statement_md::text END,
    verification   = @verification,
    imported_at    = now(),
    updated_at     = now()
WHERE id = @id
RETURNING *;

-- name: SetProblemVerification :exec
UPDATE problems SET verification = @verification, updated_at = now() WHERE id = @id;

-- name: ListProblems :many
-- The problems a caller may see, newest first, with keyset pagination on
-- (created_at, id). Visibility: admins see everything; others see
-- published problems that are public, premium (for premium accounts and
-- instructors) or of one of their organizations; editors also see their
-- own drafts and archived problems when include_unpublished is set.
SELECT p.*, (up.solved_at IS NOT NULL)::bool AS solved
FROM problems p
LEFT JOIN user_problems up ON up.problem_id = p.id AND up.user_id = @caller_id
WHERE (
        @is_admin::bool
        OR (p.status = 'published' AND (
              p.visibility = 'public'
           OR (p.visibility = 'premium' AND @premium::bool)
           OR (p.visibility = 'organization' AND EXISTS (
                 SELECT 1 FROM memberships m WHERE m.organization_id = p.organization_id AND m.user_id = @caller_id))))
        OR (@include_unpublished::bool AND (p.author_id = @caller_id OR EXISTS (
                 SELECT 1 FROM memberships m WHERE m.organization_id = p.organization_id AND m.user_id = @caller_id
                   AND m.role IN ('owner', 'instructor'))))
      )
  AND (@include_unpublished::bool OR p.status = 'published')
  AND (sqlc.narg(difficulty)::text IS NULL OR p.difficulty = sqlc.narg(difficulty))
  AND (sqlc.narg(tag)::text IS NULL OR p.tags @> ARRAY[sqlc.narg(tag)::text])
  AND (sqlc.narg(topic)::text IS NULL OR p.topics @> ARRAY[sqlc.narg(topic)::text])
  AND (sqlc.narg(organization_id)::uuid IS NULL OR p.organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(solved)::bool IS NULL OR (up.solved_at IS NOT NULL) = sqlc.narg(solved))
  AND (sqlc.narg(query)::text IS NULL OR p.title ILIKE '%' || sqlc.narg(query) || '%' OR p.slug ILIKE '%' || sqlc.narg(query) || '%')
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (p.created_at, p.id) < (sqlc.narg(before_time), sqlc.narg(before_id)::uuid))
ORDER BY p.created_at DESC, p.id DESC
LIMIT @lim;

-- name: GetUserProblem :one
SELECT * FROM user_problems WHERE user_id = @user_id AND problem_id = @problem_id;

-- name: RevealHint :one
-- Reveals the next hint, never past the last one.
INSERT INTO user_problems (user_id, problem_id, hints_revealed)
VALUES (@user_id, @problem_id, least(1, @hint_count::int))
ON CONFLICT (user_id, problem_id) DO UPDATE
SET hints_revealed = least(user_problems.hints_revealed + 1, @hint_count::int)
RETURNING hints_revealed;
