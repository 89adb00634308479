-- quotes: a client group's own markup on a symbol, replacing the symbol default
-- (quotes.symbol_settings.markup_*_points) for that group's clients.
--
-- unit POINTS: markup_bid / markup_ask are points (10^-digits, fractions allowed) taken off the
-- best LP bid / added to the best LP ask; unit PERCENT: percent of the price (bid x (1 - bid/100),
-- ask x (1 + ask/100)). Equal parts are a symmetric markup, unequal ones skew it. After rounding
-- outward, a spread narrower than min_spread_points is widened to it, split like the markup.
-- quotes writes one Redis quote per (group, symbol) row here, next to the default one.
CREATE TABLE quotes.group_markups (
    client_group       text          NOT NULL CHECK (client_group ~ '^[A-Za-z0-9._-]{1,64}$'),
    symbol             text          NOT NULL
                                     REFERENCES quotes.symbol_settings (symbol) ON DELETE CASCADE,
    unit               text          NOT NULL CHECK (unit IN ('POINTS', 'PERCENT')),
    markup_bid         numeric(12, 4) NOT NULL CHECK (markup_bid >= 0),
    markup_ask         numeric(12, 4) NOT NULL CHECK (markup_ask >= 0),
    min_spread_points  integer       NOT NULL DEFAULT 0 CHECK (min_spread_points >= 0),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (client_group, symbol),
    CHECK (unit = 'POINTS' OR (markup_bid < 100 AND markup_ask < 100))
);

CREATE TRIGGER group_markups_touch
    BEFORE UPDATE ON quotes.group_markups
    FOR EACH ROW EXECUTE FUNCTION quotes.touch_updated_at();

-- The same channel as symbol_settings: running quotes processes reload both at once.
CREATE TRIGGER group_markups_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON quotes.group_markups
    FOR EACH STATEMENT EXECUTE FUNCTION quotes.notify_settings_changed();
