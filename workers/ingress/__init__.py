"""The Kafka command ingress: commands on Kafka become idempotent Temporal calls.

``consumer`` polls and commits, ``lanes`` keeps each request's commands in order,
``commands`` calls Temporal with retries, ``dead_letter`` parks what can never apply, and
``process`` runs it all as ``tierflow ingress``. What it shares with the notifier is in the
library: ``tierflow.kafka_consumer`` (the consumer, one poll, a commit),
``tierflow.kafka_fixes`` (client workarounds), ``tierflow.partition_progress`` (commit
positions, lag, stalls) and ``tierflow.dead_letter`` (the copy a dead-letter topic takes).
"""

from workers.ingress.commands import Backoff
from workers.ingress.consumer import Ingress
from workers.ingress.metrics import IngressStats
from workers.ingress.process import main, serve

__all__ = ["Backoff", "Ingress", "IngressStats", "main", "serve"]
