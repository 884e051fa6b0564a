"""Routers of the versioned API; each carries the full prefix so metrics see the path."""

API_PREFIX = "/api/v1"
