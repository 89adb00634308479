-- admin: the audit log gains who/where/outcome columns and a hash chain; login failures are
-- counted per username and per source address for throttling and lockout.
ALTER TABLE admin.audit_log
    ADD COLUMN role       text NOT NULL DEFAULT '',
    ADD COLUMN source_ip  text NOT NULL DEFAULT '',
    ADD COLUMN user_agent text NOT NULL DEFAULT '',
    ADD COLUMN request_id text NOT NULL DEFAULT '',
    ADD COLUMN outcome    text NOT NULL DEFAULT 'ALLOWED'
               CHECK (outcome IN ('ALLOWED', 'DENIED', 'FAILED')),
    ADD COLUMN error_code text NOT NULL DEFAULT '',
    -- sha256 (hex) of the previous chained row ('' for the first one) and of this row's canonical
    -- encoding (admin/audit.py). NULL only for rows written before the chain existed.
    ADD COLUMN prev_hash  text,
    ADD COLUMN row_hash   text;

CREATE INDEX audit_log_actor_idx ON admin.audit_log (actor, audit_id);
CREATE INDEX audit_log_action_idx ON admin.audit_log (action, audit_id);
CREATE INDEX audit_log_target_idx ON admin.audit_log (target, audit_id);

-- A failed login counts against its username (known or not: the answer must not tell them
-- apart) and against its source address. key: 'user:<name>' or 'ip:<address>'.
CREATE TABLE admin.login_failures (
    key              text        PRIMARY KEY,
    failures         integer     NOT NULL,
    window_start     timestamptz NOT NULL,
    locked_until     timestamptz
);
