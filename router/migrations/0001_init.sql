-- Smart order router: routing configuration, the audit trail of every routing decision, and the
-- B-book's fills (the house book's source of truth, replayed at start to rebuild exposure).
CREATE SCHEMA IF NOT EXISTS router;

-- Routing rules: the first enabled rule by (priority ascending, rule_id) whose client_group and
-- symbol match (NULL = any) decides the book; no match routes to the B-book ("DEFAULT_B_BOOK").
CREATE TABLE router.routing_rules (
    rule_id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    priority           integer     NOT NULL,
    client_group       text        NULL,
    symbol             text        NULL,
    book               text        NOT NULL CHECK (book IN ('A', 'B', 'C')),
    -- Share of a C-book order hedged to the LP (0..1); ignored for A and B.
    c_book_hedge_ratio numeric     NOT NULL DEFAULT 0
                                   CHECK (c_book_hedge_ratio >= 0 AND c_book_hedge_ratio <= 1),
    reason             text        NOT NULL CHECK (reason ~ '^[A-Z][A-Z0-9_]*$'),
    enabled            boolean     NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_rules_order_idx ON router.routing_rules (priority, rule_id) WHERE enabled;

-- B-book exposure limits: above max_net_lots (absolute house net) a hedge request is raised.
CREATE TABLE router.exposure_limits (
    symbol       text        PRIMARY KEY,
    max_net_lots numeric     NOT NULL CHECK (max_net_lots > 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One routing decision per order (a retried Execute reuses it), with its reason and last outcome.
CREATE TABLE router.routing_decisions (
    order_id      text        PRIMARY KEY,
    account_id    text        NOT NULL,
    symbol        text        NOT NULL,
    side          text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    volume        numeric     NOT NULL CHECK (volume > 0),
    book          text        NOT NULL CHECK (book IN ('A', 'B', 'C')),
    reason        text        NOT NULL,
    rule_id       bigint      NULL,
    status        text        NOT NULL CHECK (status IN ('FILLED', 'PARTIALLY_FILLED', 'REJECTED')),
    reject_reason text        NULL,
    trace_id      text        NULL,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_decisions_decided_at_idx ON router.routing_decisions (decided_at);
CREATE INDEX routing_decisions_account_idx ON router.routing_decisions (account_id, decided_at);

-- The house book's fills; seq gives the replay order.
CREATE TABLE router.bbook_fills (
    fill_id           text        PRIMARY KEY,
    seq               bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    order_id          text        NOT NULL UNIQUE REFERENCES router.routing_decisions (order_id),
    account_id        text        NOT NULL,
    symbol            text        NOT NULL,
    client_side       text        NOT NULL CHECK (client_side IN ('BUY', 'SELL')),
    volume            numeric     NOT NULL CHECK (volume > 0),
    price             numeric     NOT NULL CHECK (price > 0),
    contract_size     numeric     NOT NULL CHECK (contract_size > 0),
    quote_to_usd_rate numeric     NOT NULL CHECK (quote_to_usd_rate > 0),
    filled_at         timestamptz NOT NULL
);

-- Configuration changes reach running routers for the next order, without a restart.
CREATE FUNCTION router.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE FUNCTION router.notify_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('router_config', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER routing_rules_touch BEFORE UPDATE ON router.routing_rules
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER exposure_limits_touch BEFORE UPDATE ON router.exposure_limits
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER routing_rules_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.routing_rules FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
CREATE TRIGGER exposure_limits_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.exposure_limits FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
