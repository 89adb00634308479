"""The admin REST API under /admin (same service layer as the gRPC AdminService)."""
