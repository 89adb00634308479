-- oms: the outbox relay's lease names the PostgreSQL backend of the relay's session. A relay
-- whose process died (kill -9, a crash) leaves its session behind only until PostgreSQL sees the
-- socket closed, a moment later; its successor (the restarted oms) then takes the lease at once
-- instead of waiting out the rest of it, and clients get the events of the orders placed
-- meanwhile without that wait. The time lease stays for a holder that is cut off without its
-- session ending (a network partition).
ALTER TABLE oms.outbox_relay ADD COLUMN holder_backend int;
