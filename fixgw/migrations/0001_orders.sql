-- fixgw's A-book order book: every fxmesh order sent to the LPs, every NewOrderSingle (attempt)
-- and every ExecutionReport applied. An attempt row commits BEFORE its NewOrderSingle is sent, so a
-- restart knows every order that may be live at an LP and reconciles it before new flow.
CREATE SCHEMA IF NOT EXISTS fixgw;

-- One row per fxmesh order id (the idempotency key of ExecuteOrder). A fenced row is an order id
-- GetOrderStatus asked about before any ExecuteOrder: it is answered NOT_FOUND and never sent.
CREATE TABLE fixgw.orders (
    order_id       text        PRIMARY KEY,
    account_id     text        NULL,
    symbol         text        NULL,
    side           text        NULL CHECK (side IN ('BUY', 'SELL')),
    volume         numeric     NULL CHECK (volume > 0),           -- lots
    contract_size  numeric     NULL CHECK (contract_size > 0),    -- units per lot
    fenced         boolean     NOT NULL DEFAULT false,
    -- Why the last execution run ended REJECTED without an attempt of its own (NO_LIQUIDITY);
    -- cleared when an attempt is added.
    reject_reason  text        NULL,
    reject_message text        NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (fenced OR (account_id IS NOT NULL AND symbol IS NOT NULL AND side IS NOT NULL
                      AND volume IS NOT NULL AND contract_size IS NOT NULL))
);

-- One NewOrderSingle to one LP. cl_ord_id = <prefix><order_id>-<attempt_no>, unique forever.
-- status: PENDING (sent or about to be; fate not known yet), UNKNOWN (held for reconciliation),
-- FILLED, PARTIALLY_FILLED (final: the rest cancelled/expired), REJECTED (final, nothing filled).
CREATE TABLE fixgw.attempts (
    cl_ord_id      text        PRIMARY KEY,
    order_id       text        NOT NULL REFERENCES fixgw.orders (order_id),
    attempt_no     integer     NOT NULL CHECK (attempt_no > 0),
    lp             text        NOT NULL,
    lp_order_id    text        NULL,
    lp_symbol      text        NOT NULL,
    style          text        NOT NULL CHECK (style IN ('MARKET', 'LIMIT_IOC', 'LIMIT_FOK')),
    limit_price    numeric     NULL,
    -- OrderQty as sent (LP units) and LP units per lot (contract size, or 1 for an LP in lots).
    lp_qty         numeric     NOT NULL CHECK (lp_qty > 0),
    qty_factor     numeric     NOT NULL CHECK (qty_factor > 0),
    status         text        NOT NULL
                   CHECK (status IN ('PENDING', 'UNKNOWN', 'FILLED', 'PARTIALLY_FILLED', 'REJECTED')),
    filled         numeric     NOT NULL DEFAULT 0 CHECK (filled >= 0),  -- lots
    filled_lp_qty  numeric     NOT NULL DEFAULT 0 CHECK (filled_lp_qty >= 0),
    avg_price      numeric     NULL,
    reject_reason  text        NULL,
    reject_message text        NULL,
    sent_at        timestamptz NOT NULL DEFAULT now(),
    final_at       timestamptz NULL,
    UNIQUE (order_id, attempt_no)
);
CREATE INDEX attempts_unresolved_idx ON fixgw.attempts (lp)
    WHERE status IN ('PENDING', 'UNKNOWN');

-- Every ExecutionReport applied, once per (LP, ExecID). A row with last_qty is a fill (in lots);
-- a fill the LP reported only through its cumulative quantity (a status answer, a report whose
-- trade report was lost) gets a derived exec_id '<cl_ord_id>@<cum qty>'.
CREATE TABLE fixgw.executions (
    lp            text        NOT NULL,
    exec_id       text        NOT NULL,
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    cl_ord_id     text        NOT NULL REFERENCES fixgw.attempts (cl_ord_id),
    exec_type     text        NOT NULL,
    ord_status    text        NULL,
    lp_order_id   text        NULL,
    last_qty      numeric     NULL CHECK (last_qty > 0),  -- lots
    last_px       numeric     NULL CHECK (last_px > 0),
    transact_time timestamptz NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    poss_dup      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (lp, exec_id),
    CHECK ((last_qty IS NULL) = (last_px IS NULL))
);
CREATE INDEX executions_attempt_idx ON fixgw.executions (cl_ord_id, seq);
