-- Execution claims (idempotent Execute, ReconcileExecution's durable fence) and per-symbol B-book
-- execution settings.

-- Who settled an order id first: an Execute that filled it (EXECUTED, committed in the same
-- transaction as the fill) or oms's ReconcileExecution that found no execution (FENCED: a later
-- Execute of that order id is rejected ORDER_ABANDONED). Both insert with ON CONFLICT DO NOTHING,
-- so the primary key lets exactly one of two racing transactions win and the other read it.
CREATE TABLE router.order_claims (
    order_id   text        PRIMARY KEY,
    account_id text        NOT NULL,
    claim      text        NOT NULL CHECK (claim IN ('EXECUTED', 'FENCED')),
    claimed_at timestamptz NOT NULL DEFAULT now(),
    trace_id   text        NULL
);

-- Fills booked before claims existed are executions.
INSERT INTO router.order_claims (order_id, account_id, claim, claimed_at)
SELECT order_id, account_id, 'EXECUTED', filled_at FROM router.bbook_fills
ON CONFLICT (order_id) DO NOTHING;

-- B-book execution settings per symbol; a symbol without a row is enabled and uses the router's
-- default quote age (FXMESH_ROUTER_MAX_QUOTE_AGE_MS). enabled = false rejects BOOK_UNAVAILABLE.
CREATE TABLE router.bbook_symbol_settings (
    symbol           text        PRIMARY KEY,
    enabled          boolean     NOT NULL DEFAULT true,
    max_quote_age_ms integer     NULL CHECK (max_quote_age_ms > 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER bbook_symbol_settings_touch BEFORE UPDATE ON router.bbook_symbol_settings
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER bbook_symbol_settings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.bbook_symbol_settings FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
