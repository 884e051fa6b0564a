"""Process concerns shared by the commands: logging setup.

``connect_temporal`` and ``connect_kafka`` live in the library (``tierflow.temporal_client``,
``tierflow.kafka_connect``); they are re-exported here only until ``workers/ingress.py``
imports them from there.
"""

from __future__ import annotations

import logging

from tierflow.kafka_connect import connect_kafka
from tierflow.temporal_client import connect_temporal

__all__ = ["configure_logging", "connect_kafka", "connect_temporal", "log"]

log = logging.getLogger("tierflow")


def configure_logging() -> None:
    """Log to stderr with timestamps, at INFO, for every process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
