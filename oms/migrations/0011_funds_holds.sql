-- oms: funds holds. A withdrawal waiting for approval holds its amount: the account's free margin
-- (equity - margin - held) and what it may withdraw (balance - held, at most free margin) shrink by
-- it, so the money can neither be withdrawn twice nor traded away while it waits. Capturing the
-- hold books the WITHDRAWAL ledger row (request id, method, reference and note of the hold) in
-- the same transaction that marks it CAPTURED; releasing it books nothing.
--
-- accounts.held is the sum of the account's ACTIVE holds, changed only under the account's row
-- lock together with the hold rows, so every read of the account (order checks, summaries, the
-- trigger watcher) has it without another query.
ALTER TABLE oms.accounts ADD COLUMN held numeric NOT NULL DEFAULT 0 CHECK (held >= 0);

CREATE TABLE oms.funds_holds (
    hold_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES oms.accounts (account_id),
    amount      numeric     NOT NULL CHECK (amount > 0),
    currency    char(3)     NOT NULL,
    request_id  text        NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
    method      text        CHECK (method ~ '^[A-Z][A-Z_]{0,31}$'),
    reference   text,
    note        text,
    status      text        NOT NULL DEFAULT 'ACTIVE'
                            CHECK (status IN ('ACTIVE', 'CAPTURED', 'RELEASED')),
    -- The WITHDRAWAL row a capture booked (CAPTURED only).
    ledger_id   bigint      REFERENCES oms.ledger (ledger_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT funds_holds_request_once UNIQUE (account_id, request_id),
    CONSTRAINT funds_holds_captured_booked CHECK ((status = 'CAPTURED') = (ledger_id IS NOT NULL))
);
CREATE INDEX funds_holds_active_idx ON oms.funds_holds (account_id) WHERE status = 'ACTIVE';
