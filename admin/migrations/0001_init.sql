-- admin: back-office users with roles, and the append-only audit log.
CREATE SCHEMA IF NOT EXISTS admin;

CREATE TABLE admin.users (
    username      text        PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash text        NOT NULL,
    role          text        NOT NULL
                  CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'RISK_MANAGER', 'SUPPORT')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admin.audit_log (
    audit_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    target     text        NOT NULL DEFAULT '',
    before     jsonb,
    after      jsonb,
    trace_id   text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_created_at_idx ON admin.audit_log (created_at);

-- The audit log is evidence: rows are only ever added.
CREATE FUNCTION admin.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin.audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON admin.audit_log
    FOR EACH ROW EXECUTE FUNCTION admin.audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON admin.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION admin.audit_log_append_only();
