"""The use cases of the account of record, each committing through the account-locked unit of work.

``unit_of_work`` (``UnitOfWork.locked`` -> ``Tx``: one transaction per account change, events to
the outbox, listeners after commit), ``orders`` (``OrderDesk``: place, modify, cancel, trigger,
expire), ``positions`` (``PositionDesk``: close, partial close, close-all, close-by, SL / TP /
trailing), ``execution`` (``Executor``: the router round trip), ``fills`` (booking fills into
positions, deals and ledger rows), ``liquidation`` (stop-out, margin calls), ``recovery`` (orders
left in flight), ``rollover`` (swaps), ``accounts`` (``AccountBook``: accounts, balance operations,
listings, statements), ``calculator`` (``LotMarginCalculator``) and ``service`` (``OmsService``:
the one entry point).
"""
