-- A-book execution: orders sent to liquidity providers through fixgw.
--
-- An A-book order is claimed SUBMITTED (with its decision PENDING) before it is sent to fixgw, so
-- an order whose outcome is unknown (timeout, fixgw away) is never sent as a new order by another
-- path: Execute asks fixgw again (idempotent per order id) and ReconcileExecution asks
-- fixgw.GetOrderStatus. When the LP's fills come back, claim EXECUTED, decision FILLED /
-- PARTIALLY_FILLED and the fills (router.lp_fills) commit in one statement; a reject deletes the
-- SUBMITTED claim (a pending order may be executed again), a reconciliation that finds nothing
-- turns it into FENCED.
ALTER TABLE router.order_claims DROP CONSTRAINT order_claims_claim_check;
ALTER TABLE router.order_claims
    ADD CONSTRAINT order_claims_claim_check CHECK (claim IN ('EXECUTED', 'FENCED', 'SUBMITTED'));

ALTER TABLE router.routing_decisions DROP CONSTRAINT routing_decisions_status_check;
ALTER TABLE router.routing_decisions
    ADD CONSTRAINT routing_decisions_status_check
    CHECK (status IN ('FILLED', 'PARTIALLY_FILLED', 'REJECTED', 'PENDING'));

-- What an A-book order was sent to fixgw with, written with its SUBMITTED claim (and rewritten when
-- a pending order is executed again): a retried Execute sends the same again, and the fills that
-- come back (to Execute or to ReconcileExecution) are priced with the markup and checked against
-- the client's worst price of that submission.
CREATE TABLE router.abook_orders (
    order_id      text        PRIMARY KEY REFERENCES router.routing_decisions (order_id),
    account_id    text        NOT NULL,
    contract_size numeric     NOT NULL CHECK (contract_size > 0),
    price_policy  text        NOT NULL CHECK (price_policy IN ('MARKUP', 'PASS_THROUGH')),
    markup_bid    numeric     NOT NULL DEFAULT 0,
    markup_ask    numeric     NOT NULL DEFAULT 0,
    -- Decimal places client prices are rounded to (away from the client); NULL: not rounded.
    price_places  integer     NULL CHECK (price_places >= 0),
    -- The worst client price the order accepts, and the LP price sent for it (NULL: any price).
    client_worst  numeric     NULL CHECK (client_worst > 0),
    lp_worst      numeric     NULL CHECK (lp_worst > 0),
    has_limit     boolean     NOT NULL DEFAULT false,
    lps           text[]      NOT NULL DEFAULT '{}',
    submitted_at  timestamptz NOT NULL DEFAULT now()
);

-- The A-book's fills: one row per LP execution (ExecID) of an order, with the client price the
-- router derived from it. fill_id ("<ClOrdID>/<ExecID>") is the client fill id oms books under
-- venue = lp; (lp, exec_id) is unique too, as each LP ExecID is applied once.
CREATE TABLE router.lp_fills (
    fill_id     text        PRIMARY KEY,
    seq         bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    order_id    text        NOT NULL REFERENCES router.routing_decisions (order_id),
    account_id  text        NOT NULL,
    symbol      text        NOT NULL,
    client_side text        NOT NULL CHECK (client_side IN ('BUY', 'SELL')),
    lp          text        NOT NULL,
    lp_order_id text        NOT NULL,
    cl_ord_id   text        NOT NULL,
    exec_id     text        NOT NULL,
    volume      numeric     NOT NULL CHECK (volume > 0),
    -- The LP's LastPx, and the client's price (LP price with the markup of the symbol's policy).
    lp_price    numeric     NOT NULL CHECK (lp_price > 0),
    price       numeric     NOT NULL CHECK (price > 0),
    -- The LP's TransactTime, or when fixgw received the report if the LP sent none.
    filled_at   timestamptz NOT NULL,
    received_at timestamptz NULL,
    booked_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lp_fills_exec_once UNIQUE (lp, exec_id)
);
CREATE INDEX lp_fills_order_idx ON router.lp_fills (order_id, seq);

-- A-book settings per symbol; a symbol without a row uses price_policy MARKUP.
--   MARKUP: the client pays the LP's price plus the markup quotes applied to the client quote
--           (ask side for a BUY, bid side for a SELL): the broker keeps the markup as revenue.
--   PASS_THROUGH: the client gets the LP's price as it is.
CREATE TABLE router.abook_symbol_settings (
    symbol       text        PRIMARY KEY,
    price_policy text        NOT NULL DEFAULT 'MARKUP'
                             CHECK (price_policy IN ('MARKUP', 'PASS_THROUGH')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER abook_symbol_settings_touch BEFORE UPDATE ON router.abook_symbol_settings
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER abook_symbol_settings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.abook_symbol_settings FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
