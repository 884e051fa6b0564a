"""Process concerns shared by the commands: logging setup.

Connections live in the library: ``tierflow.temporal_client`` and ``tierflow.kafka_connect``.
"""

from __future__ import annotations

import logging

log = logging.getLogger("tierflow")


def configure_logging() -> None:
    """Log to stderr with timestamps, at INFO, for every process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
