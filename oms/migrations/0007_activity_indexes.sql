-- The day's activity (GetTradingSummary) counts orders and deals by time across every account:
-- without these it would read both tables whole.
CREATE INDEX orders_created_idx ON oms.orders (created_at);
CREATE INDEX deals_time_idx ON oms.deals (deal_time);
