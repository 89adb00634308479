-- orders_account_day_idx (0002) was meant for the daily volume limit, but its predicate
-- (filled_volume > 0) is not implied by that query, which also counts orders still in flight, so
-- PostgreSQL could never use it; the limit reads through orders_account_created_idx. Every fill
-- of a client order still paid an entry in it.
DROP INDEX IF EXISTS oms.orders_account_day_idx;
