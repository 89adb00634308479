-- Smart routing: account overrides, B-book volume maxima, per-symbol routing settings, a
-- configuration version bumped by every change, the C-book split, and the "why" of every decision.
-- The precedence of the rules is documented in docs/routing.md.

-- Every change of a routing configuration table adds one row here, serialized (the trigger locks
-- the table until the changing transaction ends), so versions follow commit order. A router
-- reads the newest version with the configuration in one snapshot, records it with each decision,
-- and reloads before deciding when an order finds a newer version committed.
CREATE TABLE router.config_versions (
    version       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_table text        NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO router.config_versions (changed_table) VALUES ('initial');

CREATE OR REPLACE FUNCTION router.notify_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE router.config_versions IN EXCLUSIVE MODE;
    INSERT INTO router.config_versions (changed_table) VALUES (TG_TABLE_NAME);
    PERFORM pg_notify('router_config', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

-- One account forced to a book, above every routing rule (precedence level 2).
CREATE TABLE router.account_overrides (
    account_id         text        PRIMARY KEY,
    book               text        NOT NULL CHECK (book IN ('A', 'B', 'C')),
    c_book_hedge_ratio numeric     NOT NULL DEFAULT 0
                                   CHECK (c_book_hedge_ratio >= 0 AND c_book_hedge_ratio <= 1),
    reason             text        NOT NULL CHECK (reason ~ '^[A-Z][A-Z0-9_]*$'),
    enabled            boolean     NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The most the B-book takes of one order, per symbol, per client group, or both (NULL: any; the
-- most specific row applies: group+symbol, then symbol, then group, then neither). Above it the
-- order goes to the A-book (over_limit 'A') or the excess does (over_limit 'SPLIT': C-book).
CREATE TABLE router.bbook_volume_limits (
    limit_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_group text        NULL,
    symbol       text        NULL,
    max_lots     numeric     NOT NULL CHECK (max_lots >= 0),
    over_limit   text        NOT NULL DEFAULT 'SPLIT' CHECK (over_limit IN ('A', 'SPLIT')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bbook_volume_limits_scope_idx
    ON router.bbook_volume_limits (coalesce(client_group, ''), coalesce(symbol, ''));

-- Routing settings per symbol; a symbol without a row uses lot_step 0.01 and lp_fallback REJECT.
--   lot_step: the LPs' volume step; an A leg is a multiple of it.
--   lp_fallback: what an order meant for an LP gets when fixgw reports no healthy LP:
--     'B' the house takes it all, 'REJECT' it is rejected NO_LIQUIDITY.
CREATE TABLE router.routing_symbol_settings (
    symbol      text        PRIMARY KEY,
    lot_step    numeric     NOT NULL DEFAULT 0.01 CHECK (lot_step > 0),
    lp_fallback text        NOT NULL DEFAULT 'REJECT' CHECK (lp_fallback IN ('B', 'REJECT')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER account_overrides_touch BEFORE UPDATE ON router.account_overrides
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER bbook_volume_limits_touch BEFORE UPDATE ON router.bbook_volume_limits
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER routing_symbol_settings_touch BEFORE UPDATE ON router.routing_symbol_settings
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER account_overrides_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.account_overrides FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
CREATE TRIGGER bbook_volume_limits_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.bbook_volume_limits FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
CREATE TRIGGER routing_symbol_settings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.routing_symbol_settings
    FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();

-- The "why" of each decision: the precedence level that decided, the split, the configuration
-- version, and every input and step the rule engine saw (RouterService.Explain).
ALTER TABLE router.routing_decisions
    ADD COLUMN level          text    NULL,
    ADD COLUMN a_volume       numeric NULL CHECK (a_volume >= 0),
    ADD COLUMN b_volume       numeric NULL CHECK (b_volume >= 0),
    ADD COLUMN hedge_ratio    numeric NULL,
    ADD COLUMN config_version bigint  NULL,
    ADD COLUMN explanation    jsonb   NULL;

-- A C-book order is submitted like an A-book one, for its A leg: ``volume`` is the A leg's (NULL:
-- the order's whole volume), and the B leg is priced before anything is sent and kept here; it
-- commits, with whatever the A leg did not fill, in the statement that commits the A leg's fills.
ALTER TABLE router.abook_orders
    ADD COLUMN volume            numeric     NULL CHECK (volume > 0),
    ADD COLUMN b_volume          numeric     NULL CHECK (b_volume >= 0),
    ADD COLUMN b_price           numeric     NULL CHECK (b_price > 0),
    ADD COLUMN quote_to_usd_rate numeric     NULL CHECK (quote_to_usd_rate > 0),
    ADD COLUMN b_priced_at       timestamptz NULL;
