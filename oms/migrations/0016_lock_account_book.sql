-- oms: an order's acceptance takes its account's row lock and reads the account's book (open
-- positions, orders in flight) in one round trip instead of two (oms.store.positions.
-- lock_account_book). One statement could not: its snapshot is taken before it waits for the
-- lock, so it would miss what the lock's previous holder committed. A volatile function's
-- statements each take a snapshot of their own: the read below runs once the lock is granted.
-- The in-flight statuses are literals, as in oms.store.orders.IN_FLIGHT_SQL, so the partial index
-- orders_in_flight_idx serves the read.
CREATE FUNCTION oms.lock_account_book(p_account_id bigint)
RETURNS TABLE (
    locked_account oms.accounts,
    open_positions oms.positions[],
    in_flight oms.orders[],
    in_flight_events bigint[]
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM oms.accounts a WHERE a.account_id = p_account_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT a,
           ARRAY(SELECT p FROM oms.positions p
                  WHERE p.account_id = p_account_id AND p.closed_at IS NULL
                  ORDER BY p.position_id),
           ARRAY(SELECT o FROM oms.orders o
                  WHERE o.account_id = p_account_id
                    AND o.status IN ('ACCEPTED', 'FILLING', 'PARTIALLY_FILLED')
                  ORDER BY o.order_id),
           ARRAY(SELECT (SELECT count(*) FROM oms.order_events e WHERE e.order_id = o.order_id)
                   FROM oms.orders o
                  WHERE o.account_id = p_account_id
                    AND o.status IN ('ACCEPTED', 'FILLING', 'PARTIALLY_FILLED')
                  ORDER BY o.order_id)
      FROM oms.accounts a
     WHERE a.account_id = p_account_id;
END
$$;
