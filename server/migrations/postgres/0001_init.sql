-- Cloakroom schema for PostgreSQL: the same tables, columns and meaning as the SQLite migrations
-- (migrations/sqlite/0001–0006) after all of them ran, so the statements in src/store/ are one
-- text for both engines. Times are Unix seconds (BIGINT: sqlx decodes them as i64); ids are
-- random UUIDs (TEXT).

-- Usernames are ASCII by domain rule; this collation compares them case-insensitively, exactly
-- as SQLite's NOCASE does, so `username = $1` and the UNIQUE constraint mean the same on both.
CREATE COLLATION IF NOT EXISTS ascii_nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT COLLATE ascii_nocase NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    -- The last `notes.touched` value handed out (see store::notes).
    notes_touched BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    persistent     BOOLEAN NOT NULL,
    user_agent     TEXT,
    ip             TEXT,
    revoked_at     BIGINT,
    revoked_reason TEXT,
    dpop_bound     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    touched    BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notes_by_user_touched ON notes(user_id, touched);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    seed       BYTEA NOT NULL,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    revoked_at BIGINT,
    -- Insertion order, the tie-break between keys made in the same second. Named after SQLite's
    -- implicit column so `ORDER BY created_at DESC, rowid DESC` reads the same on both.
    rowid      BIGSERIAL NOT NULL
);

CREATE TABLE security_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT
);

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);

CREATE TABLE revocations (
    seq        BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    logged_at  BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

CREATE TABLE login_budgets (
    budget   TEXT PRIMARY KEY NOT NULL,
    failures TEXT NOT NULL DEFAULT '',
    last_at  BIGINT NOT NULL
);
CREATE INDEX login_budgets_by_last ON login_budgets(last_at);

-- Every instance follows the revocation log by sequence number (startup::sync_once) and must
-- never step past a number whose transaction has not committed yet. SQLite commits one writer at
-- a time; PostgreSQL does not, and a sequence hands out numbers at insert time, so a revocation
-- numbered 9 could commit after 10 was seen and be skipped for good. The trigger takes a lock on
-- the log first (held to commit), so revocations commit in the order of their numbers. They are
-- rare (logout, reuse, operator actions); serialising them costs nothing measurable.
-- Then it wakes every instance (`LISTEN cloakroom_sync`; delivered at commit).
CREATE FUNCTION log_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE revocations IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO revocations (session_id, revoked_at) VALUES (NEW.id, NEW.revoked_at);
    PERFORM pg_notify('cloakroom_sync', 'revocation');
    RETURN NEW;
END $$;

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION log_revocation();

-- Key rotations and revocations (`cloakroom keys …`, any instance's first start) wake every
-- instance to reload its keys.
CREATE FUNCTION notify_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cloakroom_sync', 'keys');
    RETURN NULL;
END $$;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE ON signing_keys
FOR EACH STATEMENT EXECUTE FUNCTION notify_keys();

