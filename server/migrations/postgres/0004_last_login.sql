-- When each user last logged in (a session was made for them): the admin page shows it.
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
