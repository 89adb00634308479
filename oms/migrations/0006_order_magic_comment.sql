-- MetaTrader's magic number (an Expert Advisor's id) and comment, kept on orders and on the deals
-- they make, and returned in history. Additive: existing rows read as 0 / ''.
ALTER TABLE oms.orders
    ADD COLUMN magic   bigint NOT NULL DEFAULT 0,
    ADD COLUMN comment text   NOT NULL DEFAULT '';

ALTER TABLE oms.deals
    ADD COLUMN magic   bigint NOT NULL DEFAULT 0,
    ADD COLUMN comment text   NOT NULL DEFAULT '';
