"""oms: the account of record (accounts, symbols, orders, positions, deals, ledger, outbox)."""
