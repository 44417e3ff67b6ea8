-- name: CreateSubmission :one
-- Inserts a QUEUED submission; with an idempotency key already used by the
-- user it inserts nothing (and GetSubmissionByKey finds the first).
INSERT INTO submissions (user_id, problem_id, organization_id, mode, language, source, input, idempotency_key, request_hash, tests_total, sample_tests)
VALUES (@user_id, @problem_id, sqlc.narg(organization_id), @mode, @language, @source, sqlc.narg(input), sqlc.narg(idempotency_key), sqlc.narg(request_hash), @tests_total, @sample_tests)
ON CONFLICT (user_id, idempotency_key) DO NOTHING
RETURNING *;

-- name: GetSubmissionByKey :one
SELECT * FROM submissions WHERE user_id = @user_id AND idempotency_key = @idempotency_key;

-- name: GetSubmission :one
SELECT * FROM submissions WHERE id = @id;

-- name: MarkSubmissionResourceCreated :exec
UPDATE submissions SET cr_created_at = coalesce(cr_created_at, now()) WHERE id = @id;

-- name: ListSubmissionsWithoutResource :many
-- Submissions whose custom resource was never confirmed created, oldest first.
SELECT * FROM submissions
WHERE cr_created_at IS NULL AND phase_rank < 3 AND created_at < @older_than
ORDER BY created_at
LIMIT @lim;

-- name: ListSubmissions :many
SELECT * FROM submissions
WHERE user_id = @user_id
  AND mode = 'submit'
  AND (sqlc.narg(problem_id)::uuid IS NULL OR problem_id = sqlc.narg(problem_id))
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_time), sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: AdvanceSubmission :one
-- Moves a submission forward: a later phase, or more progress in the same
-- non-final phase. Stale or repeated events change nothing (no row).
UPDATE submissions
SET phase            = @phase,
    phase_rank       = @phase_rank,
    verdict          = sqlc.narg(verdict),
    message          = @message,
    current_test     = @current_test,
    tests_passed     = @tests_passed,
    tests_total      = greatest(@tests_total, tests_total),
    max_cpu_ms       = @max_cpu_ms,
    peak_memory_kib  = @peak_memory_kib,
    tests            = @tests,
    compiler_message = @compiler_message,
    run_output       = @run_output,
    report           = @report,
    finished_at      = CASE WHEN @phase_rank::smallint = 3 THEN now() ELSE finished_at END,
    updated_at       = now()
WHERE id = @id
  AND (phase_rank < @phase_rank
       OR (phase_rank = @phase_rank AND @phase_rank::smallint < 3
           AND (current_test, jsonb_array_length(tests)) < (@current_test::int, jsonb_array_length(@tests::jsonb))))
RETURNING *;

-- name: CountProblemSubmission :exec
-- Counts a judged submission in its problem's statistics.
UPDATE problems
SET submission_count = submission_count + 1,
    accepted_count   = accepted_count + CASE WHEN @accepted::bool THEN 1 ELSE 0 END
WHERE id = @id;

-- name: RecordAttempt :one
INSERT INTO user_problems (user_id, problem_id, attempts, solved_at)
VALUES (@user_id, @problem_id, 1, CASE WHEN @accepted::bool THEN now() END)
ON CONFLICT (user_id, problem_id) DO UPDATE
SET attempts  = user_problems.attempts + 1,
    solved_at = coalesce(user_problems.solved_at, excluded.solved_at)
RETURNING *;

-- name: AwardXP :one
-- Awards XP for a problem once per user; no row when already awarded.
INSERT INTO xp_awards (user_id, problem_id, submission_id, xp)
VALUES (@user_id, @problem_id, @submission_id, @xp)
ON CONFLICT (user_id, problem_id) DO NOTHING
RETURNING xp;

-- name: AddUserXP :one
UPDATE users SET xp = xp + @xp WHERE id = @id RETURNING xp;

-- name: SetSubmissionXP :exec
UPDATE submissions SET xp_awarded = @xp WHERE id = @id;

-- name: TouchStreak :one
-- Counts today (in the user's time zone) in the streak: the same day
-- changes nothing, the next day extends it, a gap restarts it.
UPDATE users
SET streak_days = CASE
        WHEN last_active_day = (now() AT TIME ZONE timezone)::date THEN streak_days
        WHEN last_active_day = (now() AT TIME ZONE timezone)::date - 1 THEN streak_days + 1
        ELSE 1 END,
    longest_streak = greatest(longest_streak, CASE
        WHEN last_active_day = (now() AT TIME ZONE timezone)::date THEN streak_days
        WHEN last_active_day = (now() AT TIME ZONE timezone)::date - 1 THEN streak_days + 1
        ELSE 1 END),
    last_active_day = (now() AT TIME ZONE timezone)::date
WHERE id = @id
RETURNING streak_days, longest_streak, last_active_day;

-- name: TopXP :many
-- Users with XP, for rebuilding the global leaderboard.
SELECT id, xp FROM users WHERE xp > 0;

-- name: TopXPInOrganization :many
SELECT u.id, u.xp FROM users u JOIN memberships m ON m.user_id = u.id
WHERE m.organization_id = @organization_id AND u.xp > 0;

-- name: DisplayNames :many
SELECT id, display_name FROM users WHERE id = ANY(@ids::uuid[]);
