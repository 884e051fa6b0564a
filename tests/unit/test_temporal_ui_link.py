"""The console's admin link to a request's workflow reaches a Temporal UI a browser can open:
the dev server's on the Temporal host, or the UI the deployment names (compose, a cluster)."""

from __future__ import annotations

from api.console.views import temporal_ui_url
from tierflow.settings import Settings


def test_the_link_goes_to_the_dev_servers_ui_or_the_one_named() -> None:
    dev = Settings(temporal_address="10.0.0.5:7233", temporal_ui_port=8233)
    assert temporal_ui_url(dev, "request-r 1") == (
        "http://10.0.0.5:8233/namespaces/default/workflows/request-r%201"
    )
    named = Settings(temporal_address="temporal:7233", temporal_ui_url="http://localhost:8080/")
    assert temporal_ui_url(named, "request-r1") == (
        "http://localhost:8080/namespaces/default/workflows/request-r1"
    )
