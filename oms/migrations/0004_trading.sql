-- oms trading core: margin-call state, so a margin_call event is raised once per crossing below
-- the account's margin call level (and margin_call_cleared once when the level is restored).
ALTER TABLE oms.accounts ADD COLUMN margin_call_at timestamptz;  -- NULL: not in margin call
