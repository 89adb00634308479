"""asyncpg access to the ``oms`` schema; every SQL statement of oms is in one of these modules.

``accounts`` (symbols, accounts, credentials, margin-call state), ``orders`` (orders and their
transitions), ``positions`` (positions and deals), ``ledger`` (ledger, balances, swaps) and
``outbox`` (the transactional outbox and its relay to RabbitMQ). Functions that change an account
expect the caller to hold its row lock (``oms.trading.unit_of_work.UnitOfWork.locked``).
"""
