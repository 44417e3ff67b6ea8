-- Submissions and what they earn. A row is written (QUEUED) before its
-- Submission custom resource is created; cr_created_at stays NULL until the
-- resource exists, so a sweeper can re-create lost ones. Status moves
-- forward only (phase_rank), whatever order watch events arrive in.

-- +goose Up
ALTER TABLE users
    ADD COLUMN streak_days     int  NOT NULL DEFAULT 0 CHECK (streak_days >= 0),
    ADD COLUMN longest_streak  int  NOT NULL DEFAULT 0 CHECK (longest_streak >= 0),
    -- The last calendar day, in the user's time zone, with an accepted submission.
    ADD COLUMN last_active_day date;

CREATE TABLE submissions (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_id       uuid        NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    organization_id  uuid        REFERENCES organizations (id) ON DELETE SET NULL,
    mode             text        NOT NULL CHECK (mode IN ('submit', 'run')),
    language         text        NOT NULL CHECK (language IN ('python3', 'javascript', 'typescript', 'cpp', 'java', 'go')),
    source           text        NOT NULL CHECK (octet_length(source) <= 65536),
    input            text        CHECK (octet_length(input) <= 65536),
    idempotency_key  text        CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    phase            text        NOT NULL DEFAULT 'queued'
                                 CHECK (phase IN ('queued', 'compiling', 'running', 'completed', 'failed')),
    -- 0 queued, 1 compiling, 2 running, 3 final: transitions only go up.
    phase_rank       smallint    NOT NULL DEFAULT 0,
    verdict          text        CHECK (verdict IN ('ACCEPTED', 'WRONG_ANSWER', 'TIME_LIMIT_EXCEEDED', 'MEMORY_LIMIT_EXCEEDED',
                                                    'OUTPUT_LIMIT_EXCEEDED', 'RUNTIME_ERROR', 'COMPILATION_ERROR', 'INTERNAL_ERROR')),
    message          text        NOT NULL DEFAULT '',
    current_test     int         NOT NULL DEFAULT 0,
    tests_passed     int         NOT NULL DEFAULT 0,
    tests_total      int         NOT NULL DEFAULT 0,
    max_cpu_ms       bigint      NOT NULL DEFAULT 0,
    peak_memory_kib  bigint      NOT NULL DEFAULT 0,
    -- [{"verdict":..., "cpu_ms":..., "memory_kib":...}] in test order.
    tests            jsonb       NOT NULL DEFAULT '[]',
    compiler_message text        NOT NULL DEFAULT '',
    run_output       text        NOT NULL DEFAULT '',
    xp_awarded       int         NOT NULL DEFAULT 0,
    cr_created_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (user_id, idempotency_key),
    CHECK ((mode = 'run') = (input IS NOT NULL))
);
CREATE INDEX submissions_user_idx ON submissions (user_id, created_at DESC, id DESC);
CREATE INDEX submissions_problem_idx ON submissions (problem_id, created_at DESC);
CREATE INDEX submissions_pending_cr_idx ON submissions (created_at) WHERE cr_created_at IS NULL;

-- XP is awarded once per user and problem: the primary key makes a
-- repeated verdict event a no-op.
CREATE TABLE xp_awards (
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_id    uuid        NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    submission_id uuid        NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    xp            int         NOT NULL CHECK (xp > 0),
    awarded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, problem_id)
);

-- +goose Down
DROP TABLE xp_awards;
DROP TABLE submissions;
ALTER TABLE users DROP COLUMN last_active_day, DROP COLUMN longest_streak, DROP COLUMN streak_days;
