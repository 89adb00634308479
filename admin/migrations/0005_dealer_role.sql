-- admin: the DEALER role (flow and execution: reads everything, connects and disconnects LP
-- sessions, sets client overrides, runs what-ifs; no money, no client terms, no admin users).
ALTER TABLE admin.users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE admin.users ADD CONSTRAINT users_role_check
    CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'RISK_MANAGER', 'DEALER', 'SUPPORT'));
