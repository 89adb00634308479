"""fxmesh shared runtime: configuration, logging, metrics, tracing, gRPC bootstrap, database, money.

Every service imports this package and the generated contracts in ``fxmesh.v1``; nothing
service-specific lives here.
"""
