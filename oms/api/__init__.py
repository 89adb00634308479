"""oms at the gRPC boundary: the only place protobuf meets the domain.

``servicer`` (``OmsServicer``: parse, call ``OmsService``, reply), ``convert`` /
``trading_convert`` / ``funds_convert`` (requests -> commands, results -> replies) and
``router_client`` (``RouterClient``: Execute and ReconcileExecution as plain data).
"""
