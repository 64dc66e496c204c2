-- Cloakroom schema. Times are Unix seconds (INTEGER); ids are random UUIDs (TEXT), so no id
-- tells anyone how many users, sessions or notes exist.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    -- ASCII-only by domain rule, so NOCASE gives exact case-insensitive uniqueness.
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    -- Space-separated role names ("admin"); empty for ordinary users.
    roles         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

-- A session is one login on one device: the family of refresh tokens that rotate from it.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    -- (Last use is the issue time of the session's newest refresh token: derived, not
    -- written on every refresh.)
    -- Absolute end of the session; rotation never moves it.
    expires_at     INTEGER NOT NULL,
    -- 1: "remember me" (cookie with Max-Age); 0: browser-session cookie.
    persistent     INTEGER NOT NULL,
    user_agent     TEXT,
    ip             TEXT,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;

-- Every refresh token ever issued, by SHA-256 only. Rotated ones are kept until their session
-- ends: presenting one again is how token theft is detected.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notes_by_user ON notes(user_id, updated_at);

-- Ed25519 access-token signing keys. The newest unretired key signs; every key whose tokens
-- may still be alive verifies.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    seed       BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

-- Security-relevant happenings (refresh-token reuse, mass revocation), for operators.
CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT
);
