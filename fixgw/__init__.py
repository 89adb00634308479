"""fixgw: the FIX 4.4 gateway to liquidity providers (QuickFIX initiator sessions)."""
