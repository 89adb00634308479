-- quotes: pricing settings per symbol (validation thresholds and markup) and the client tick history.
CREATE SCHEMA quotes;

-- One row per symbol. Markup is in points (10^-digits): subtracted from the best LP bid, added to
-- the best LP ask. A per client-group markup will live in its own table keyed (client_group, symbol)
-- and override these defaults; this table stays the symbol's default pricing.
CREATE TABLE quotes.symbol_settings (
    symbol               text        PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9._]{1,32}$'),
    digits               smallint    NOT NULL CHECK (digits BETWEEN 0 AND 8),
    markup_bid_points    integer     NOT NULL DEFAULT 0 CHECK (markup_bid_points >= 0),
    markup_ask_points    integer     NOT NULL DEFAULT 0 CHECK (markup_ask_points >= 0),
    max_spread_points    integer     NOT NULL CHECK (max_spread_points > 0),
    spike_threshold_pct  numeric(8, 4) NOT NULL DEFAULT 2.0 CHECK (spike_threshold_pct > 0),
    stale_after_ms       integer     NOT NULL DEFAULT 5000 CHECK (stale_after_ms > 0),
    enabled              boolean     NOT NULL DEFAULT true,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION quotes.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER symbol_settings_touch
    BEFORE UPDATE ON quotes.symbol_settings
    FOR EACH ROW EXECUTE FUNCTION quotes.touch_updated_at();

-- Running quotes processes LISTEN on quotes_settings and reload, so an admin change applies to the
-- next tick without a restart. Delivered at commit; one notification per statement.
CREATE FUNCTION quotes.notify_settings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('quotes_settings', TG_OP);
    RETURN NULL;
END;
$$;

CREATE TRIGGER symbol_settings_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON quotes.symbol_settings
    FOR EACH STATEMENT EXECUTE FUNCTION quotes.notify_settings_changed();

-- Client ticks (markup applied) as written to Redis; source names the LP(s) the price came from.
CREATE TABLE quotes.ticks (
    time    timestamptz NOT NULL,
    symbol  text        NOT NULL,
    bid     numeric     NOT NULL,
    ask     numeric     NOT NULL,
    source  text        NOT NULL
);

CREATE INDEX ticks_symbol_time_idx ON quotes.ticks (symbol, time DESC);
