"""admin: back office (gRPC AdminService + REST under /admin) with roles and an audit log."""
