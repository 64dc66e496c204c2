-- `/readyz` after a write failed for lack of space: one row written and deleted to prove that
-- writes succeed again (`Db::writable`). Empty at rest.
CREATE TABLE write_probe (
    id     INTEGER PRIMARY KEY,
    filler BLOB NOT NULL
);
