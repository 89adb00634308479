-- Routing configuration changed through RouterService.ChangeRoutingConfig (admin's execution
-- pages): one version per changing transaction, who changed it, and the LPs an A leg of a symbol
-- tries first.

-- A transaction that changes several routing tables (or one table in several statements) adds
-- ONE version: the first change of a transaction inserts the row, the later ones find it by the
-- transaction id. ChangeRoutingConfig inserts it itself, with the actor and a note, right after
-- locking this table (EXCLUSIVE: changes queue, readers do not wait).
-- The versions written before this migration keep a NULL transaction id (a volatile default
-- in ADD COLUMN would give them all this migration's).
ALTER TABLE router.config_versions
    ADD COLUMN xact_id xid8 NULL,
    ADD COLUMN actor   text NULL,
    ADD COLUMN note    text NULL;
ALTER TABLE router.config_versions ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id();
CREATE UNIQUE INDEX config_versions_xact_idx ON router.config_versions (xact_id);

CREATE OR REPLACE FUNCTION router.notify_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE router.config_versions IN EXCLUSIVE MODE;
    IF NOT EXISTS (
        SELECT 1 FROM router.config_versions WHERE xact_id = pg_current_xact_id()
    ) THEN
        INSERT INTO router.config_versions (changed_table) VALUES (TG_TABLE_NAME);
    END IF;
    PERFORM pg_notify('router_config', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

-- The LPs an A leg of the symbol tries first, in this order, before fixgw's configured list
-- (admin's per-symbol "priority LP"). Empty: fixgw's list as configured.
ALTER TABLE router.routing_symbol_settings
    ADD COLUMN preferred_lps text[] NOT NULL DEFAULT '{}';

-- What the A leg was sent with (a retried Execute sends the same again).
ALTER TABLE router.abook_orders
    ADD COLUMN preferred_lps text[] NOT NULL DEFAULT '{}';
