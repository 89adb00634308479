-- quotes: tick history partitioned by day (raw LP ticks and client ticks) and persisted candles.
--
-- TimescaleDB is not assumed: plain declarative range partitioning, one partition per UTC day,
-- created ahead by the quotes service (quotes.ensure_tick_partition) and dropped whole for
-- retention (quotes.drop_tick_partitions), never deleted row by row.

ALTER TABLE quotes.ticks RENAME TO ticks_unpartitioned;
ALTER INDEX quotes.ticks_symbol_time_idx RENAME TO ticks_unpartitioned_symbol_time_idx;

-- kind CLIENT: the client price as written to Redis (markup applied), source = the LP(s) it came
-- from; kind RAW: an LP tick accepted by validation, source = the LP session. Both are kept so a
-- dispute about a price can be answered.
CREATE TABLE quotes.ticks (
    time    timestamptz NOT NULL,
    symbol  text        NOT NULL,
    kind    text        NOT NULL CHECK (kind IN ('CLIENT', 'RAW')),
    source  text        NOT NULL,
    bid     numeric     NOT NULL,
    ask     numeric     NOT NULL
) PARTITION BY RANGE (time);

CREATE INDEX ticks_symbol_kind_time_idx ON quotes.ticks (symbol, kind, time DESC);

-- Create the partition of one UTC day unless it exists; true when it was created. Serialised by
-- an advisory lock, so replicas creating the same day at once do not fail.
CREATE FUNCTION quotes.ensure_tick_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'ticks_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(format('quotes.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('quotes.ticks partitions'));
    IF to_regclass(format('quotes.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE quotes.%I PARTITION OF quotes.ticks FOR VALUES FROM (%L) TO (%L)',
        part,
        day::timestamp AT TIME ZONE 'UTC',
        (day + 1)::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
END;
$$;

-- Drop every day partition of a day before ``before`` (its whole range is older); returns the
-- names dropped.
CREATE FUNCTION quotes.drop_tick_partitions(before date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('quotes.ticks partitions'));
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'quotes.ticks'::regclass
          AND c.relname ~ '^ticks_[0-9]{8}$'
          AND to_date(substr(c.relname, 7), 'YYYYMMDD') < before
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE quotes.%I', part);
        RETURN NEXT part;
    END LOOP;
END;
$$;

SELECT quotes.ensure_tick_partition(day)
FROM (SELECT DISTINCT (time AT TIME ZONE 'UTC')::date AS day FROM quotes.ticks_unpartitioned) d;

INSERT INTO quotes.ticks (time, symbol, kind, source, bid, ask)
SELECT time, symbol, 'CLIENT', source, bid, ask FROM quotes.ticks_unpartitioned;

DROP TABLE quotes.ticks_unpartitioned;

-- The candle widths; every one divides a week, buckets count from Sunday 1970-01-04 00:00 UTC.
CREATE TABLE quotes.timeframes (
    code   text     PRIMARY KEY,
    width  interval NOT NULL UNIQUE
);

INSERT INTO quotes.timeframes (code, width) VALUES
    ('1m', interval '1 minute'),
    ('5m', interval '5 minutes'),
    ('15m', interval '15 minutes'),
    ('30m', interval '30 minutes'),
    ('1h', interval '1 hour'),
    ('4h', interval '4 hours'),
    ('1d', interval '1 day'),
    ('1w', interval '7 days');

-- Candles of the client bid, maintained by the quotes service as ticks are stored (same
-- transaction as the ticks). time = bucket start (UTC); spread = the smallest spread of the bucket
-- in points. A 500-candle read is one backward scan of the primary key.
CREATE TABLE quotes.candles (
    symbol       text        NOT NULL,
    timeframe    text        NOT NULL REFERENCES quotes.timeframes (code),
    time         timestamptz NOT NULL,
    open         numeric     NOT NULL,
    high         numeric     NOT NULL,
    low          numeric     NOT NULL,
    close        numeric     NOT NULL,
    tick_volume  bigint      NOT NULL CHECK (tick_volume > 0),
    spread       integer     NOT NULL CHECK (spread >= 0),
    PRIMARY KEY (symbol, timeframe, time),
    CHECK (low <= open AND open <= high AND low <= close AND close <= high)
);

-- Repair: rebuild every candle of ``p_symbol`` in the whole weeks around [p_from, p_to) from the
-- stored client ticks (1m from the ticks, the wider timeframes from the 1m candles). Blocks the
-- service's candle writes for its duration (they wait, then add on top), so it is safe to run
-- while quotes runs. Returns the number of candles written.
CREATE FUNCTION quotes.rebuild_candles(p_symbol text, p_from timestamptz, p_to timestamptz)
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
        (symbol, timeframe, time, open, high, low, close, tick_volume, spread)
    SELECT p_symbol, '1m', bucket,
           (array_agg(bid ORDER BY time))[1], max(bid), min(bid),
           (array_agg(bid ORDER BY time DESC))[1], count(*),
           min(round((ask - bid) * power(10::numeric, v_digits)))::integer
    FROM (
        SELECT date_bin(interval '1 minute', time, origin) AS bucket, time, bid, ask
        FROM quotes.ticks
        WHERE symbol = p_symbol AND kind = 'CLIENT' AND time >= v_from AND time < v_to
    ) t
    GROUP BY bucket;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_rows;

    FOR tf IN SELECT code, width FROM quotes.timeframes WHERE code <> '1m' ORDER BY width LOOP
        INSERT INTO quotes.candles
            (symbol, timeframe, time, open, high, low, close, tick_volume, spread)
        SELECT p_symbol, tf.code, bucket,
               (array_agg(open ORDER BY time))[1], max(high), min(low),
               (array_agg(close ORDER BY time DESC))[1], sum(tick_volume), min(spread)
        FROM (
            SELECT date_bin(tf.width, time, origin) AS bucket, time, open, high, low, close,
                   tick_volume, spread
            FROM quotes.candles
            WHERE symbol = p_symbol AND timeframe = '1m' AND time >= v_from AND time < v_to
        ) m
        GROUP BY bucket;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_total := v_total + v_rows;
    END LOOP;
    RETURN v_total;
END;
$$;

SELECT quotes.rebuild_candles(t.symbol, t.first_time, t.last_time + interval '1 microsecond')
FROM (
    SELECT symbol, min(time) AS first_time, max(time) AS last_time
    FROM quotes.ticks
    WHERE kind = 'CLIENT'
    GROUP BY symbol
) t
JOIN quotes.symbol_settings s USING (symbol);
