-- Ceremonies are counted (the cap on how many may be open) and purged by their expiry.
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_at);
