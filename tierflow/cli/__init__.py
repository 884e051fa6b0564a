"""The ``tierflow`` command: local stack, processes, database, events, benchmarks."""

from __future__ import annotations

import typer

from tierflow import cli_bench, cli_client, cli_db, cli_dev, cli_events

app = typer.Typer(help="tierflow: durable service-request lifecycles", no_args_is_help=True)
app.add_typer(cli_dev.app, name="dev")
app.add_typer(cli_db.app, name="db")
app.add_typer(cli_events.app, name="events")
app.add_typer(cli_bench.app, name="bench")
cli_client.register(app)


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from workers.worker import main

    main()


@app.command()
def ingress() -> None:
    """Run the Kafka command consumer that drives workflows."""
    from workers.ingress import main

    main()


@app.command()
def api() -> None:
    """Run the HTTP API and caseworker console."""
    from workers.api_server import main

    main()


if __name__ == "__main__":
    app()
