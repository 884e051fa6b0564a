"""The API's document names what any of its routes may answer besides its own, so that a
client generated from it handles them: 413, 422 (in the shape the API answers it), 502, and
503 with when to retry and the key to repeat an action with."""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from tierflow.db.engine import make_engine
from tierflow.settings import Settings


def test_every_api_operation_documents_the_errors_it_may_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doc.db'}"
    engine = make_engine(url)
    try:
        doc = create_app(Settings(database_url=url, home=tmp_path), None, engine).openapi()
    finally:
        engine.dispose()
    operations = [
        (f"{method.upper()} {path}", op)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in ops.items()
    ]
    assert len(operations) > 20
    for name, op in operations:
        answers = op["responses"]
        assert {"413", "422", "502", "503"} <= set(answers), name
        invalid = answers["422"]["content"]["application/json"]["schema"]["$ref"]
        assert invalid.endswith("/ValidationErrorsOut"), name
        assert {"Retry-After", "Idempotency-Key"} <= set(answers["503"]["headers"]), name
    item = doc["components"]["schemas"]["FieldErrorOut"]
    assert {"field", "reason", "loc", "msg"} <= set(item["properties"])


def test_the_interactive_docs_can_be_turned_off_and_the_document_stays(tmp_path: Path) -> None:
    """/docs and /redoc load Swagger UI and ReDoc from a CDN into the console's origin:
    production turns them off (TIERFLOW_API_DOCS=false); /openapi.json stays."""
    url = f"sqlite:///{tmp_path / 'doc.db'}"
    engine = make_engine(url)
    try:
        paths = {
            docs: {
                getattr(r, "path", "")
                for r in create_app(
                    Settings(database_url=url, home=tmp_path, api_docs=docs), None, engine
                ).routes
            }
            for docs in (True, False)
        }
    finally:
        engine.dispose()
    assert {"/docs", "/redoc", "/openapi.json"} <= paths[True]
    assert "/openapi.json" in paths[False] and not {"/docs", "/redoc"} & paths[False]
