-- oms: risk settings (a global row and optional per-client-group rows), and NOTIFY oms_settings
-- whenever a symbol or a risk setting changes, so every running oms process drops its symbol
-- cache and reloads its risk settings for the next order without a restart.
--
-- client_group '' is the global row (always present). A group row overrides the global row field
-- by field: a NULL in a group row falls back to the global value, a NULL in the global row means
-- no limit. Limits are checked against new (opening) orders, on top of the account's own limits
-- (the stricter one wins): max_leverage caps the leverage the order's margin is computed at,
-- max_position_size bounds one position's lots, max_daily_volume the lots opened in a UTC day,
-- max_open_positions the positions held.
CREATE TABLE oms.risk_settings (
    client_group       text        PRIMARY KEY CHECK (length(client_group) <= 64),
    margin_call_level  numeric     CHECK (margin_call_level > 0),
    stop_out_level     numeric     CHECK (stop_out_level >= 0),
    max_leverage       integer     CHECK (max_leverage BETWEEN 1 AND 500),
    max_position_size  numeric     CHECK (max_position_size > 0),
    max_daily_volume   numeric     CHECK (max_daily_volume > 0),
    max_open_positions integer     CHECK (max_open_positions > 0),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT risk_settings_stop_out_below_call
        CHECK (stop_out_level IS NULL OR margin_call_level IS NULL
               OR stop_out_level < margin_call_level)
);

INSERT INTO oms.risk_settings (client_group) VALUES ('');

CREATE FUNCTION oms.notify_settings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('oms_settings', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER symbols_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON oms.symbols
    FOR EACH STATEMENT EXECUTE FUNCTION oms.notify_settings_changed();

CREATE TRIGGER risk_settings_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON oms.risk_settings
    FOR EACH STATEMENT EXECUTE FUNCTION oms.notify_settings_changed();
