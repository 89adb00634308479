"""edge: the client-facing REST API (/api) and WebSocket (/ws) in front of oms."""
