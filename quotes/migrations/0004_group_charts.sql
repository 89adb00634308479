-- quotes: client ticks and candles per client group with its own markup (quotes.group_markups).
--
-- client_group '' is the default price (every group without its own markup on the symbol); every
-- row stored so far is the default price's. RAW ticks are always ''. The group is part of the tick
-- index and of the candle key, so a group's 500-candle read stays one backward index scan.

ALTER TABLE quotes.ticks ADD COLUMN client_group text NOT NULL DEFAULT '';

DROP INDEX quotes.ticks_symbol_kind_time_idx;
CREATE INDEX ticks_symbol_kind_group_time_idx
    ON quotes.ticks (symbol, kind, client_group, time DESC);

ALTER TABLE quotes.candles ADD COLUMN client_group text NOT NULL DEFAULT '';
ALTER TABLE quotes.candles DROP CONSTRAINT candles_pkey;
ALTER TABLE quotes.candles ADD CONSTRAINT candles_pkey
    PRIMARY KEY (symbol, client_group, timeframe, time);

-- Repair: rebuild every candle of ``p_symbol`` (the default price's and each group's) in the whole
-- weeks around [p_from, p_to) from the stored client ticks (1m from the ticks, the wider
-- timeframes from the 1m candles). Blocks the service's candle writes for its duration (they
-- wait, then add on top), so it is safe to run while quotes runs. Returns the number of candles
-- written.
CREATE OR REPLACE FUNCTION quotes.rebuild_candles(
    p_symbol text, p_from timestamptz, p_to timestamptz
)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    origin constant timestamptz := timestamptz '1970-01-04 00:00:00+00';
    v_digits smallint;
    v_from timestamptz := date_bin(interval '7 days', p_from, origin);
    v_to timestamptz := date_bin(interval '7 days', p_to, origin);
    v_rows integer;
    v_total integer := 0;
    tf record;
BEGIN
    SELECT digits INTO v_digits FROM quotes.symbol_settings WHERE symbol = p_symbol;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown symbol %', p_symbol USING ERRCODE = 'no_data_found';
    END IF;
    IF v_to < p_to THEN
        v_to := v_to + interval '7 days';
    END IF;
    LOCK TABLE quotes.candles IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM quotes.candles WHERE symbol = p_symbol AND time >= v_from AND time < v_to;

    INSERT INTO quotes.candles
        (symbol, client_group, timeframe, time, open, high, low, close, tick_volume, spread)
    SELECT p_symbol, client_group, '1m', bucket,
           (array_agg(bid ORDER BY time))[1], max(bid), min(bid),
           (array_agg(bid ORDER BY time DESC))[1], count(*),
           min(round((ask - bid) * power(10::numeric, v_digits)))::integer
    FROM (
        SELECT client_group, date_bin(interval '1 minute', time, origin) AS bucket, time, bid, ask
        FROM quotes.ticks
        WHERE symbol = p_symbol AND kind = 'CLIENT' AND time >= v_from AND time < v_to
    ) t
    GROUP BY client_group, bucket;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_rows;

    FOR tf IN SELECT code, width FROM quotes.timeframes WHERE code <> '1m' ORDER BY width LOOP
        INSERT INTO quotes.candles
            (symbol, client_group, timeframe, time, open, high, low, close, tick_volume, spread)
        SELECT p_symbol, client_group, tf.code, bucket,
               (array_agg(open ORDER BY time))[1], max(high), min(low),
               (array_agg(close ORDER BY time DESC))[1], sum(tick_volume), min(spread)
        FROM (
            SELECT client_group, date_bin(tf.width, time, origin) AS bucket, time, open, high,
                   low, close, tick_volume, spread
            FROM quotes.candles
            WHERE symbol = p_symbol AND timeframe = '1m' AND time >= v_from AND time < v_to
        ) m
        GROUP BY client_group, bucket;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_total := v_total + v_rows;
    END LOOP;
    RETURN v_total;
END;
$$;
