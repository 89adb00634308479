-- Auto-hedging of the house net (router/hedging.py) and single-writer leadership of the router
-- replicas (router/leader.py). See docs/routing.md, "Auto-hedge" and "Two replicas".

-- The leader's epoch: bumped by every replica that takes the leader lock (a session-level
-- advisory lock). Every hedge statement checks it, so a deposed leader (one that lost its lock
-- connection and does not know yet) writes nothing: its in-flight hedge is resolved by the new
-- leader through fixgw's GetOrderStatus, never sent twice.
CREATE TABLE router.leader (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch       bigint      NOT NULL,
    holder      text        NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO router.leader (epoch, holder) VALUES (0, 'none');

-- One hedge order: the house trading the excess of its net in a symbol with an LP through fixgw,
-- under the fixgw order id client_order_id (HEDGE-<hedge_id>).
--   PENDING       to send (new, or its last attempt was rejected: sent again at next_attempt_at)
--   SENT          at fixgw, outcome not known yet (resolved by GetOrderStatus at next_attempt_at)
--   FILLED        done: its fills are router.house_trades rows (filled_volume may be < volume)
--   FENCED        fixgw never saw it (fenced by GetOrderStatus): nothing traded, a new hedge follows
--   CANCELLED     PENDING (never sent, or its attempts rejected) and no longer needed when due: the
--                 house net is back within the limit, or the symbol has no limit any more
CREATE TABLE router.hedge_orders (
    hedge_id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_order_id    text        GENERATED ALWAYS AS ('HEDGE-' || hedge_id) STORED UNIQUE,
    symbol             text        NOT NULL,
    side               text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    volume             numeric     NOT NULL CHECK (volume > 0),
    contract_size      numeric     NOT NULL CHECK (contract_size > 0),
    quote_to_usd_rate  numeric     NOT NULL CHECK (quote_to_usd_rate > 0),
    house_net_lots     numeric     NOT NULL,
    max_net_lots       numeric     NOT NULL,
    status             text        NOT NULL DEFAULT 'PENDING'
                                   CHECK (status IN ('PENDING', 'SENT', 'FILLED', 'FENCED',
                                                     'CANCELLED')),
    epoch              bigint      NOT NULL,
    attempts           integer     NOT NULL DEFAULT 0,
    failures           integer     NOT NULL DEFAULT 0,
    last_reject_reason text        NULL,
    last_reject_message text       NULL,
    filled_volume      numeric     NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hedge_orders_open_idx ON router.hedge_orders (next_attempt_at)
    WHERE status IN ('PENDING', 'SENT');
CREATE INDEX hedge_orders_symbol_idx ON router.hedge_orders (symbol, created_at);

-- The house's own trades with LPs (hedges), not client trades: replayed with router.bbook_fills
-- to rebuild the house book. side is the house's (BUY: the house bought from the LP).
CREATE TABLE router.house_trades (
    trade_id          text        PRIMARY KEY,
    seq               bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    hedge_id          bigint      NOT NULL REFERENCES router.hedge_orders (hedge_id),
    symbol            text        NOT NULL,
    side              text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    volume            numeric     NOT NULL CHECK (volume > 0),
    price             numeric     NOT NULL CHECK (price > 0),
    contract_size     numeric     NOT NULL CHECK (contract_size > 0),
    quote_to_usd_rate numeric     NOT NULL CHECK (quote_to_usd_rate > 0),
    lp                text        NOT NULL,
    lp_order_id       text        NOT NULL,
    exec_id           text        NOT NULL,
    traded_at         timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX house_trades_hedge_idx ON router.house_trades (hedge_id);
