-- oms: ledger times follow the ledger's chain.
-- A row's created_at is when it was written (under the account's row lock), not when its
-- transaction began: otherwise a transaction that waited for the lock would stamp its row before
-- rows written ahead of it, and "balance at T" (balance_after of the last row before T, as
-- statements read it) would disagree with the chain.
ALTER TABLE oms.ledger ALTER COLUMN created_at SET DEFAULT clock_timestamp();
