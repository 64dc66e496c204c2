-- Server-side secrets that every instance must share and that must survive restarts (HMAC
-- keys: the refresh-token successor key, the device-cookie key). 32 random bytes each, made at
-- first start. Like the signing keys, they make the data directory as sensitive as a private key.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
