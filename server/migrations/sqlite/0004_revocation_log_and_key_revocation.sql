-- Every revocation gets the next number of one sequence, in the transaction that revokes, by a
-- trigger (so no code path can revoke without logging it). Running servers pick revocations up
-- by sequence number, not by time: a revocation whose transaction committed late (an operator's
-- CLI, a slow disk), or whose clock lagged, still has a number above the last one a server saw,
-- where a time window could have passed it by. SQLite commits one writer at a time, so numbers
-- become visible in order.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    -- When the database logged it (purging goes by this, never by the revoker's own stamp).
    logged_at  INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT INTO revocations (session_id, revoked_at) VALUES (NEW.id, NEW.revoked_at);
END;

-- `cloakroom keys revoke KID`: a revoked key verifies nothing from the moment a server sees it.
ALTER TABLE signing_keys ADD COLUMN revoked_at INTEGER;

-- A retired key only verifies, which needs its public half alone: its private seed is wiped so a
-- copy of the database cannot sign with it.
UPDATE signing_keys SET seed = X'' WHERE retired_at IS NOT NULL;
