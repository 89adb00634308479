-- admin: withdrawals above the approval threshold (FXMESH_ADMIN_WITHDRAWAL_APPROVAL_ABOVE) wait
-- here for a second admin (four eyes) while oms holds their funds (oms.funds_holds, hold_id).
-- PENDING -> APPROVED (oms captured the hold: ledger_id is its WITHDRAWAL row), REJECTED (the hold
-- was released) or FAILED (oms refused the capture, e.g. INSUFFICIENT_BALANCE; the hold was
-- released). The request id of the POST /admin/withdraw that asked for it makes the request
-- idempotent: a retry answers this row.
CREATE TABLE admin.withdrawals (
    withdrawal_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint      NOT NULL,
    amount        numeric     NOT NULL CHECK (amount > 0),
    currency      char(3)     NOT NULL,
    method        text        NOT NULL,
    reference     text        NOT NULL DEFAULT '',
    note          text        NOT NULL DEFAULT '',
    request_id    text        NOT NULL UNIQUE CHECK (length(request_id) BETWEEN 1 AND 64),
    requested_by  text        NOT NULL,
    status        text        NOT NULL DEFAULT 'PENDING'
                              CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'FAILED')),
    decided_by    text,
    decided_at    timestamptz,
    reason        text        NOT NULL DEFAULT '',
    hold_id       bigint      NOT NULL,
    ledger_id     bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT withdrawals_decided CHECK ((status = 'PENDING') = (decided_by IS NULL)),
    CONSTRAINT withdrawals_approved_booked CHECK ((status = 'APPROVED') = (ledger_id IS NOT NULL))
);
CREATE INDEX withdrawals_status_idx ON admin.withdrawals (status, withdrawal_id);
CREATE INDEX withdrawals_account_idx ON admin.withdrawals (account_id, withdrawal_id);
