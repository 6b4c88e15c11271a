-- The caseworker desk (issue 8). api_tokens holds both API bearer tokens and
-- page sessions (kind); a session carries its CSRF token. Only SHA-256 hashes
-- of tokens are stored.
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session'));
ALTER TABLE api_tokens ADD COLUMN csrf TEXT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX access_log_subject ON access_log (subject);
