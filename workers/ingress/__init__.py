"""The Kafka command ingress: commands on Kafka become idempotent Temporal calls.

``consumer`` polls and commits, ``lanes`` keeps each request's commands in order,
``progress`` turns finished records into commit positions, ``commands`` calls Temporal with
retries, ``dead_letter`` parks what can never apply (the copy itself is
``tierflow.dead_letter``; the consumer and the client workarounds are
``tierflow.kafka_consumer`` and ``tierflow.kafka_fixes``), and ``process`` runs it all as
``tierflow ingress``.
"""

from workers.ingress.commands import Backoff
from workers.ingress.consumer import Health, Ingress
from workers.ingress.metrics import IngressStats
from workers.ingress.process import main, serve

__all__ = ["Backoff", "Health", "Ingress", "IngressStats", "main", "serve"]
