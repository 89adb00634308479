-- oms: pending orders, SL/TP/trailing, netting, close reasons, risk limits, balance operations, swaps.

-- Account risk settings.
ALTER TABLE oms.accounts
    ADD COLUMN negative_balance_protection boolean NOT NULL DEFAULT true,
    ADD COLUMN max_open_positions          integer NOT NULL DEFAULT 0 CHECK (max_open_positions >= 0),
    ADD COLUMN max_daily_volume            numeric CHECK (max_daily_volume > 0);  -- lots per UTC day

-- Who raised an order, and the stop-limit activation flag.
ALTER TABLE oms.orders
    ADD COLUMN origin            text    NOT NULL DEFAULT 'CLIENT'
        CHECK (origin IN ('CLIENT', 'STOP_LOSS', 'TAKE_PROFIT', 'STOP_OUT')),
    ADD COLUMN stop_limit_active boolean NOT NULL DEFAULT false;
ALTER TABLE oms.orders
    ADD CONSTRAINT orders_stop_limit_has_limit
        CHECK (type <> 'STOP_LIMIT' OR status = 'REJECTED' OR stop_limit_price IS NOT NULL),
    ADD CONSTRAINT orders_pending_has_price
        CHECK (type = 'MARKET' OR status = 'REJECTED' OR price IS NOT NULL),
    ADD CONSTRAINT orders_gtd_has_expiry
        CHECK (time_in_force <> 'GTD' OR status = 'REJECTED' OR expire_at IS NOT NULL);
-- Working orders by expiry (GTD / DAY expiry sweep).
CREATE INDEX orders_working_expiry_idx ON oms.orders (expire_at)
    WHERE status = 'WORKING' AND expire_at IS NOT NULL;
-- Daily volume limit: the account's orders of one day.
CREATE INDEX orders_account_day_idx ON oms.orders (account_id, created_at)
    WHERE origin = 'CLIENT' AND filled_volume > 0;

-- Trailing stops and close reasons; realized P&L accumulates over partial closes.
UPDATE oms.positions SET realized_pnl = 0 WHERE realized_pnl IS NULL;
ALTER TABLE oms.positions
    ALTER COLUMN realized_pnl SET DEFAULT 0,
    ALTER COLUMN realized_pnl SET NOT NULL,
    ADD COLUMN trailing_distance_points integer NOT NULL DEFAULT 0 CHECK (trailing_distance_points >= 0),
    ADD COLUMN trailing_step_points     integer NOT NULL DEFAULT 0 CHECK (trailing_step_points >= 0),
    ADD COLUMN close_reason text CHECK (close_reason IN (
        'CLIENT', 'STOP_LOSS', 'TAKE_PROFIT', 'STOP_OUT', 'CLOSE_BY', 'NETTING')),
    ADD CONSTRAINT positions_closed_has_reason CHECK ((closed_at IS NULL) = (close_reason IS NULL));
-- Positions with protection: restored into the trigger books at start.
CREATE INDEX positions_protected_idx ON oms.positions (symbol)
    WHERE closed_at IS NULL
      AND (stop_loss IS NOT NULL OR take_profit IS NOT NULL OR trailing_distance_points > 0);

-- Why each deal happened.
ALTER TABLE oms.deals
    ADD COLUMN reason text NOT NULL DEFAULT 'CLIENT' CHECK (reason IN (
        'CLIENT', 'STOP_LOSS', 'TAKE_PROFIT', 'STOP_OUT', 'CLOSE_BY', 'NETTING'));
CREATE INDEX deals_account_time_idx ON oms.deals (account_id, deal_time);

-- Balance operations are idempotent per (account, request_id); statements read by time.
ALTER TABLE oms.ledger
    ADD COLUMN request_id text CHECK (length(request_id) BETWEEN 1 AND 64),
    ADD CONSTRAINT ledger_request_once UNIQUE (account_id, request_id);
CREATE INDEX ledger_account_time_idx ON oms.ledger (account_id, created_at);

-- Swap charged to one position at one rollover, at most once.
CREATE TABLE oms.swap_charges (
    position_id   bigint      NOT NULL REFERENCES oms.positions (position_id),
    rollover_date date        NOT NULL,
    days          smallint    NOT NULL CHECK (days > 0),
    amount        numeric     NOT NULL,
    ledger_id     bigint      REFERENCES oms.ledger (ledger_id),  -- NULL when the amount rounds to 0
    charged_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (position_id, rollover_date)
);
