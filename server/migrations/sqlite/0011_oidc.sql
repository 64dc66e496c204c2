-- Sign-in through the team's OpenID provider (auth::oidc).

-- Sign-ins under way: begun by one browser (its cookie names the row), finished by the
-- provider's redirect back on any instance, which takes (deletes) the row: single use.
CREATE TABLE oidc_logins (
    id         TEXT PRIMARY KEY NOT NULL,
    -- The state, PKCE verifier, nonce and where to go afterwards, as JSON.
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);

-- Which account a provider's user is: keyed on (issuer, subject), never on an email address
-- (which a provider may let its users set to anyone's).
CREATE TABLE oidc_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);

-- A session begun through a provider names it, and the provider's own session id (`sid`) when
-- the ID token carried one: its back-channel logout ends exactly these.
ALTER TABLE sessions ADD COLUMN oidc_issuer TEXT;
ALTER TABLE sessions ADD COLUMN oidc_sid TEXT;
CREATE INDEX sessions_by_oidc_sid ON sessions (oidc_issuer, oidc_sid);

-- Logout tokens already acted on (by `jti`), until they expire: a replayed one is refused.
CREATE TABLE oidc_logout_tokens (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);
