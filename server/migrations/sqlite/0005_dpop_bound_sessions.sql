-- A session that logged in with a DPoP proof stays DPoP-bound: its refreshes must carry a proof
-- too (of whatever key the tab has now), so a script that borrows the refresh cookie cannot get
-- a plain Bearer token out of it.
ALTER TABLE sessions ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
