-- DPoP proof ids seen (`auth::dpop`), so a proof used on one instance is refused on every other.
-- Kept until the proof's acceptance window has passed (`until`), then purged. (SQLite serves one
-- process, whose memory cache is the whole truth: no such table there.)
CREATE TABLE dpop_proofs (
    jkt   TEXT NOT NULL,
    jti   TEXT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_by_until ON dpop_proofs(until);
