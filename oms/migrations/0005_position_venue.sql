-- A-book: a position remembers who holds its risk, so that closing it follows that venue.
-- book and venue of the position's opening fill ('B' / 'BBOOK' for the house, 'A' / an LP session
-- name for the A-book) and the venue's order id (the LP's OrderID; NULL for the B-book). A netting
-- position keeps those of the fill that opened it (a reversal opens a new position with its own).
ALTER TABLE oms.positions
    ADD COLUMN book           text CHECK (book IN ('A', 'B', 'C')),
    ADD COLUMN venue          text,
    ADD COLUMN venue_order_id text;

-- Every position before the A-book was the house's.
UPDATE oms.positions SET book = 'B', venue = 'BBOOK' WHERE book IS NULL;

ALTER TABLE oms.positions
    ALTER COLUMN book SET DEFAULT 'B',
    ALTER COLUMN book SET NOT NULL,
    ALTER COLUMN venue SET DEFAULT 'BBOOK',
    ALTER COLUMN venue SET NOT NULL;
