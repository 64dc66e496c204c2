-- State that every instance must share (PostgreSQL scale-out) moves into the database; SQLite
-- gets the same tables so both backends run the same statements.

-- Each create and update of a note takes the next value of its owner's counter, kept on the
-- user's row. The `UPDATE … RETURNING` that bumps it locks that row until the transaction ends,
-- so two writers (two instances on PostgreSQL) can never take the same number; a MAX()+1
-- subquery could, under PostgreSQL's concurrent writers.
ALTER TABLE users ADD COLUMN notes_touched INTEGER NOT NULL DEFAULT 0;
UPDATE users SET notes_touched = (SELECT COALESCE(MAX(touched), 0) FROM notes WHERE notes.user_id = users.id);

-- Login guess budgets (`auth::throttle`): per account (folded username) or per device cookie,
-- the times of attempts that failed or are being checked right now, oldest first. In the
-- database so the limit holds across instances and restarts.
CREATE TABLE login_budgets (
    budget   TEXT PRIMARY KEY NOT NULL,
    -- Space-separated Unix seconds.
    failures TEXT NOT NULL DEFAULT '',
    -- The newest of them: a budget whose newest attempt left the window is purged.
    last_at  INTEGER NOT NULL
);
CREATE INDEX login_budgets_by_last ON login_budgets(last_at);
