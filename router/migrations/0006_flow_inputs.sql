-- Computed rule inputs (docs/routing.md, levels 3a to 3c): the client fills and closed deals the
-- router's flow feed records from oms's events (router/flowfeed.py), and the thresholds that make
-- an account profitable or toxic and a symbol volatile. No level acts until a threshold row exists.

-- One client fill (an order_filled event's fill), with the mid sampled 1 s, 10 s and 60 s after it
-- (NULL until sampled; left NULL when the router was not sampling then).
CREATE TABLE router.flow_fills (
    fill_id     text        PRIMARY KEY,
    account_id  text        NOT NULL,
    symbol      text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price       numeric     NOT NULL CHECK (price > 0),
    volume      numeric     NOT NULL CHECK (volume > 0),
    fill_time   timestamptz NOT NULL,
    mid_1s      numeric     NULL,
    mid_10s     numeric     NULL,
    mid_60s     numeric     NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flow_fills_account_idx ON router.flow_fills (account_id);

-- One closed deal (a position reported CLOSED), its realized P&L in the account currency.
CREATE TABLE router.flow_closes (
    position_id text        PRIMARY KEY,
    account_id  text        NOT NULL,
    symbol      text        NOT NULL,
    profit      numeric     NOT NULL,
    open_time   timestamptz NOT NULL,
    close_time  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flow_closes_account_idx ON router.flow_closes (account_id);

-- When an account is profitable (net profit above net_profit_min, or win rate above win_rate_min
-- over at least min_closed_deals) or toxic (toxicity score in bps at or above toxicity_min_bps
-- over at least min_markout_fills, or latency-arbitrage share at or above latency_arb_share_min
-- over at least min_closed_deals), per client group (NULL: any group; the group's row first).
-- Both classifications send the order to the A-book. A NULL bound is not checked.
CREATE TABLE router.flow_thresholds (
    threshold_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_group          text        NULL,
    min_closed_deals      integer     NOT NULL DEFAULT 1 CHECK (min_closed_deals >= 0),
    net_profit_min        numeric     NULL,
    win_rate_min          numeric     NULL CHECK (win_rate_min >= 0 AND win_rate_min <= 1),
    min_markout_fills     integer     NOT NULL DEFAULT 1 CHECK (min_markout_fills >= 0),
    toxicity_min_bps      numeric     NULL,
    latency_arb_share_min numeric     NULL
                                      CHECK (latency_arb_share_min >= 0
                                             AND latency_arb_share_min <= 1),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX flow_thresholds_scope_idx ON router.flow_thresholds (coalesce(client_group, ''));

-- What an order in a volatile symbol gets: realized volatility (bps per square root of a minute)
-- at or above max_bps sets the book (A, B or C with its hedge ratio), per symbol (NULL: any).
CREATE TABLE router.volatility_thresholds (
    threshold_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol             text        NULL,
    max_bps            numeric     NOT NULL CHECK (max_bps >= 0),
    book               text        NOT NULL DEFAULT 'A' CHECK (book IN ('A', 'B', 'C')),
    c_book_hedge_ratio numeric     NOT NULL DEFAULT 0
                                   CHECK (c_book_hedge_ratio >= 0 AND c_book_hedge_ratio <= 1),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX volatility_thresholds_scope_idx
    ON router.volatility_thresholds (coalesce(symbol, ''));

CREATE TRIGGER flow_thresholds_touch BEFORE UPDATE ON router.flow_thresholds
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER volatility_thresholds_touch BEFORE UPDATE ON router.volatility_thresholds
    FOR EACH ROW EXECUTE FUNCTION router.touch_updated_at();
CREATE TRIGGER flow_thresholds_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.flow_thresholds FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
CREATE TRIGGER volatility_thresholds_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON router.volatility_thresholds
    FOR EACH STATEMENT EXECUTE FUNCTION router.notify_config_changed();
