-- CreateAccount is idempotent by the caller's request id: a retry answers the account it opened.
ALTER TABLE oms.accounts ADD COLUMN create_request_id text UNIQUE;
