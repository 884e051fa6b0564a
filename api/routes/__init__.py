"""Routers of the versioned API (mounted under /api/v1)."""
