-- fixgw's liquidity providers: one row per LP (one FIX session each), so that LPs added, changed,
-- disabled or deleted through the RPCs (admin's /admin/lps) survive a restart.
--
-- Seeded from the settings (FXMESH_FIXGW_LPS, or the single default LP) at every start: a
-- SETTINGS row follows the settings (changed with them, removed when they drop the LP); a row an
-- admin touched is ADMIN and wins over the settings. Deleting an LP that the settings still name
-- leaves a tombstone (deleted = true, ADMIN) so that the delete survives the next start.
CREATE TABLE fixgw.lps (
    lp_id          text        PRIMARY KEY,  -- the LP's name (admin-made ids: see fixgw.convert.LP_ID)
    lp_type        text        NOT NULL DEFAULT 'FIX' CHECK (lp_type IN ('FIX')),
    host           text        NOT NULL,
    port           integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    sender_comp_id text        NOT NULL,
    target_comp_id text        NOT NULL,
    -- Broker symbols subscribed on this LP (NULL: FXMESH_FIXGW_SYMBOLS), and broker -> LP names.
    symbols        text[]      NULL,
    symbol_map     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The whole fixgw.config.LpConfig as JSON (order style, quantity unit, timeouts, dialect...);
    -- the columns above are copies of its fields, kept for reading and for the constraints.
    config         jsonb       NOT NULL,
    enabled        boolean     NOT NULL DEFAULT true,
    source         text        NOT NULL CHECK (source IN ('SETTINGS', 'ADMIN')),
    deleted        boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT deleted OR source = 'ADMIN')
);

-- Two live LPs never share a FIX session (QuickFIX registers session ids process-wide).
CREATE UNIQUE INDEX lps_session_uidx ON fixgw.lps (sender_comp_id, target_comp_id)
    WHERE NOT deleted;

-- Today's fills and rejects per LP are counted from here at start (attempts ended since 00:00).
CREATE INDEX attempts_final_at_idx ON fixgw.attempts (final_at) WHERE final_at IS NOT NULL;
