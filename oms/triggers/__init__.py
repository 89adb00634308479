"""Pending orders, SL / TP, trailing stops, expiry and stop-out, driven by client quotes.

``book`` (price-sorted trigger books), ``dispatch`` (the ``TriggerActions`` / ``TriggerLoader``
protocols, settings, the per-account dispatcher), ``watcher`` (the tick loop) and ``bridge``
(``WatcherBridge``: those protocols over ``OmsService``, and the listener that keeps the books in
step with every commit).
"""
