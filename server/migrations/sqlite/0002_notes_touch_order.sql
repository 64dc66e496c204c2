-- Notes are listed most recently touched first. Whole-second `updated_at` cannot order two
-- notes touched in the same second (and a wall clock can step back), so every create and update
-- takes the next value of a per-user counter: `touched` orders exactly, ties are impossible.
ALTER TABLE notes ADD COLUMN touched INTEGER NOT NULL DEFAULT 0;

-- Existing notes keep the order they were shown in (updated_at DESC, id ASC): the first one
-- shown gets the highest number.
UPDATE notes SET touched = (
    SELECT COUNT(*) FROM notes n
    WHERE n.user_id = notes.user_id
      AND (n.updated_at < notes.updated_at OR (n.updated_at = notes.updated_at AND n.id >= notes.id))
);

DROP INDEX notes_by_user;
CREATE UNIQUE INDEX notes_by_user_touched ON notes(user_id, touched);
