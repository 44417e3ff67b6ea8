-- What closing the attacker's findings of issue 15 needs in the schema:
-- a per-user session epoch and suspension (authorization from current
-- state), registrations whose password is the one of the link the mailbox
-- owner followed (no pre-hijacking), organization invitations the invitee
-- accepts, and what submissions need to show learners structured results
-- only.

-- +goose Up
ALTER TABLE users
    -- Bumped whenever every session of the account must end at once (role
    -- change, suspension, logout, password reset or change, refresh token
    -- reuse). Access tokens carry the epoch they were issued in; an older
    -- one is refused on its next call.
    ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),
    -- A suspended account cannot sign in and its sessions are ended.
    ADD COLUMN suspended_at timestamptz;

-- A verification token carries what its registration chose: verifying sets
-- that password (and display name), so the password that works is always
-- the one whose link the mailbox owner followed.
ALTER TABLE email_tokens
    ADD COLUMN password_hash text,
    ADD COLUMN display_name  text CHECK (length(display_name) BETWEEN 1 AND 64);

-- Passwords of accounts never verified were never proven by the owner of
-- the address: they go, and so do the old verification links (a new
-- registration of the address mails a new one).
DELETE FROM credentials c USING users u WHERE u.id = c.user_id AND u.email_verified_at IS NULL;
UPDATE email_tokens SET used_at = now() WHERE purpose = 'verify_email' AND used_at IS NULL;

-- Invitations to organizations: membership starts only when the invitee
-- accepts. One pending invitation per organization and user.
CREATE TABLE invitations (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text        NOT NULL CHECK (role IN ('owner', 'instructor', 'member')),
    invited_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    UNIQUE (organization_id, user_id)
);
CREATE INDEX invitations_user_idx ON invitations (user_id, created_at, id);
CREATE INDEX invitations_org_idx ON invitations (organization_id, created_at, id);

-- The first sample_tests tests of a package are its samples (data/sample
-- comes before data/secret); learners may see details of those only.
ALTER TABLE problems ADD COLUMN sample_tests int NOT NULL DEFAULT 0 CHECK (sample_tests >= 0);

ALTER TABLE submissions
    -- The problem's sample_tests when the submission was made.
    ADD COLUMN sample_tests int   NOT NULL DEFAULT 0 CHECK (sample_tests >= 0),
    -- Where the full judge report is (bucket/key), for the problem's editors.
    ADD COLUMN report       text  NOT NULL DEFAULT '',
    -- SHA-256 of what an idempotency key stands for, to refuse the key's
    -- reuse for another program.
    ADD COLUMN request_hash bytea;

-- +goose Down
ALTER TABLE submissions DROP COLUMN request_hash, DROP COLUMN report, DROP COLUMN sample_tests;
ALTER TABLE problems DROP COLUMN sample_tests;
DROP TABLE invitations;
ALTER TABLE email_tokens DROP COLUMN display_name, DROP COLUMN password_hash;
ALTER TABLE users DROP COLUMN suspended_at, DROP COLUMN session_epoch;
