-- oms: settling an order's execution takes its account's row lock and reads the order, whether
-- the answer's fill is booked already and the account's book in one round trip instead of three
-- (oms.store.positions.lock_account_order), as accepting does since 0016. The read runs in the
-- function's second statement, whose snapshot is taken once the lock is granted: a settlement
-- that waited for another settlement of the same order sees its deal and books nothing twice.
--
-- The book's reads move to oms.account_book, one copy for both lock functions (and the book read
-- without a lock, oms.store.positions.open_book). A single-SELECT SQL function is inlined into
-- the statement that calls it, so the in-flight statuses stay literals the partial index
-- orders_in_flight_idx is matched against, and it reads with that statement's snapshot.
CREATE FUNCTION oms.account_book(p_account_id bigint)
RETURNS TABLE (
    open_positions oms.positions[],
    in_flight oms.orders[],
    in_flight_events bigint[]
)
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT p FROM oms.positions p
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
$$;

-- The lock both functions below take first; their next statement reads with a snapshot of its
-- own, taken once the lock is granted. False: no such account.
CREATE FUNCTION oms.lock_account(p_account_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM oms.accounts a WHERE a.account_id = p_account_id FOR UPDATE;
    RETURN FOUND;
END
$$;

CREATE OR REPLACE FUNCTION oms.lock_account_book(p_account_id bigint)
RETURNS TABLE (
    locked_account oms.accounts,
    open_positions oms.positions[],
    in_flight oms.orders[],
    in_flight_events bigint[]
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT oms.lock_account(p_account_id) THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT a, b.open_positions, b.in_flight, b.in_flight_events
      FROM oms.accounts a, oms.account_book(p_account_id) b
     WHERE a.account_id = p_account_id;
END
$$;

CREATE FUNCTION oms.lock_account_order(
    p_account_id bigint, p_order_id bigint, p_venue text, p_fill_id text
)
RETURNS TABLE (
    locked_account oms.accounts,
    open_positions oms.positions[],
    in_flight oms.orders[],
    in_flight_events bigint[],
    settling oms.orders,
    settling_events bigint,
    fill_applied boolean
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT oms.lock_account(p_account_id) THEN
        RETURN;
    END IF;
    -- Any deal with this venue and fill id counts as booked, whichever order it is under (as
    -- oms.store.orders.get_with_applied): a venue reusing an id is skipped, not booked twice.
    RETURN QUERY
    SELECT a, b.open_positions, b.in_flight, b.in_flight_events, o,
           (SELECT count(*) FROM oms.order_events e WHERE e.order_id = o.order_id),
           EXISTS (SELECT 1 FROM oms.deals d WHERE d.venue = p_venue AND d.fill_id = p_fill_id)
      FROM oms.accounts a
     CROSS JOIN oms.account_book(p_account_id) b
      LEFT JOIN oms.orders o ON o.account_id = p_account_id AND o.order_id = p_order_id
     WHERE a.account_id = p_account_id;
END
$$;
