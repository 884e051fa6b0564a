"""`tierflow worker | ingress | notifier | api`: the long-running processes (the image's CMD)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the process commands to the root command."""
    app.command()(worker)
    app.command()(ingress)
    app.command()(notifier)
    app.command()(api)


def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from workers.worker import main

    main()


def ingress() -> None:
    """Run the Kafka command consumer that drives workflows."""
    from workers.ingress import main

    main()


def notifier() -> None:
    """Run the notifier: lifecycle events become inbox entries, mails, webhooks and SMS."""
    from workers.notifier.process import main

    main()


def api() -> None:
    """Run the HTTP API and caseworker console."""
    from workers.api_server import main

    main()
