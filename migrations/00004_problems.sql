-- Coding problems. Postgres is the truth about a problem (metadata,
-- statement, samples, hints, statistics); the judge's Problem custom
-- resource points at the imported package in object storage.

-- +goose Up
ALTER TABLE users ADD COLUMN premium_until timestamptz;

CREATE TABLE problems (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug              text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$'),
    title             text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    statement_md      text        NOT NULL DEFAULT '' CHECK (length(statement_md) <= 200000),
    difficulty        text        NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard')),
    status            text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    visibility        text        NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'premium', 'organization')),
    organization_id   uuid        REFERENCES organizations (id) ON DELETE CASCADE,
    author_id         uuid        REFERENCES users (id) ON DELETE SET NULL,
    tags              text[]      NOT NULL DEFAULT '{}',
    topics            text[]      NOT NULL DEFAULT '{}',
    hints             text[]      NOT NULL DEFAULT '{}',
    -- Language ids (python3, javascript, typescript, cpp, java, go); empty: all.
    languages         text[]      NOT NULL DEFAULT '{}',
    -- Limits, from the package.
    time_limit_ms     int         NOT NULL DEFAULT 1000 CHECK (time_limit_ms BETWEEN 1 AND 60000),
    memory_mib        int         NOT NULL DEFAULT 256 CHECK (memory_mib BETWEEN 1 AND 8192),
    output_mib        int         NOT NULL DEFAULT 8 CHECK (output_mib BETWEEN 1 AND 1024),
    -- Public sample tests: [{"name":..., "input":..., "output":...}].
    samples           jsonb       NOT NULL DEFAULT '[]',
    -- The imported package.
    package_key       text,
    package_sha256    text,
    package_size      bigint,
    package_tests     int         NOT NULL DEFAULT 0,
    validation        text        NOT NULL DEFAULT 'default' CHECK (validation IN ('default', 'custom', 'interactive')),
    imported_at       timestamptz,
    -- Agreement of the package's labelled submissions: '', 'verifying', 'agreed', 'disagreed'.
    verification      text        NOT NULL DEFAULT '',
    -- Statistics, updated by the verdict flow.
    submission_count  bigint      NOT NULL DEFAULT 0,
    accepted_count    bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((visibility = 'organization') = (organization_id IS NOT NULL)),
    CHECK (status = 'draft' OR package_key IS NOT NULL)
);
CREATE INDEX problems_listing_idx ON problems (status, created_at, id);
CREATE INDEX problems_org_idx ON problems (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX problems_tags_idx ON problems USING gin (tags);
CREATE INDEX problems_topics_idx ON problems USING gin (topics);

-- What each user did on each problem: solved or not, hints revealed.
CREATE TABLE user_problems (
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_id     uuid        NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    hints_revealed int         NOT NULL DEFAULT 0 CHECK (hints_revealed >= 0),
    attempts       int         NOT NULL DEFAULT 0,
    solved_at      timestamptz,
    PRIMARY KEY (user_id, problem_id)
);
CREATE INDEX user_problems_problem_idx ON user_problems (problem_id);

-- +goose Down
DROP TABLE user_problems;
DROP TABLE problems;
ALTER TABLE users DROP COLUMN premium_until;
