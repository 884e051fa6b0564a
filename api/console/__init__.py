"""The caseworker web console, served by ``tierflow api`` under ``/console``."""

from api.console.routes import router

__all__ = ["router"]
