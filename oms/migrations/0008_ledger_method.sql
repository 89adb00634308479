-- How money moved for a balance operation (BANK_TRANSFER, CRYPTO, CARD, or an adjustment's kind
-- such as CORRECTION); NULL for trading rows and operations booked before it existed.
ALTER TABLE oms.ledger ADD COLUMN method text CHECK (method ~ '^[A-Z][A-Z_]{0,31}$');
