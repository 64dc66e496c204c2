-- Passkeys (WebAuthn credentials) and the ceremonies in progress. A ceremony lives in the
-- database, not in one process's memory, so it can begin on one instance and finish on another;
-- it is taken (deleted) by the request that finishes it, so a challenge is answered once.
CREATE TABLE passkeys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The authenticator's credential id: one account's, never two.
    cred_id      BLOB NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    -- webauthn-rs's `Passkey` (public key, counter, flags) as JSON.
    passkey      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY NOT NULL,
    -- 'register' or 'login'.
    kind       TEXT NOT NULL,
    -- The account a registration is for; none for a login (the passkey names its account).
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    -- webauthn-rs's ceremony state (the challenge among it) as JSON.
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
