-- admin: admin users are managed through the API. token_version is carried by every admin token
-- and bumped when the user is disabled, changes role or changes password, so the tokens issued
-- before stop working at once (each request compares it with the token's).
ALTER TABLE admin.users
    ADD COLUMN token_version       integer     NOT NULL DEFAULT 1 CHECK (token_version > 0),
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();
