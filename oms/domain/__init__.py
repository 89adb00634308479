"""oms's pure core: no I/O, no protobuf, no clock of its own.

``model`` (ids, enums, the order state table, orders, symbols, accounts, MetaTrader maths),
``commands`` (what callers ask), ``records`` (what is stored), ``results`` (what is answered),
``events`` (the JSON of published events), ``paging``, ``accounting`` (margin, figures, swaps, lot
sizing), ``rules`` (sessions, pending-order and protection triggers, netting), ``validation``
(every pre-trade check, as a reject reason) and ``stopout`` (margin-level thresholds).
"""
