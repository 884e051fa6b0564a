"""Directory versions in the database (SQLite and PostgreSQL): every import is recorded whole
and loads back; an import is all or nothing across the file, the version table and the
institution table; ``tierflow directory import`` records into the configured database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from schemas.domain import Category, Role, Tier
from tests.utils.language import language_env
from tierflow.auth_store import create_user
from tierflow.cli import app as cli
from tierflow.db.auth_models import ApiUser
from tierflow.db.engine import make_engine
from tierflow.db.models import DirectoryVersion, InstitutionRow
from tierflow.directory import Directory, DirectoryError
from tierflow.directory_csv import export_csv
from tierflow.directory_store import (
    current_directory,
    fill_institutions,
    import_directory,
    load_version,
    newest_version,
    record_file,
    version_history,
)

PACKAGED = Directory.load()
PACKAGED_PATH = str(resources.files("tierflow.data").joinpath("directory.json"))
NAMED = export_csv(e for e in PACKAGED.entries if not e.generated)
TIANHE = "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,,0\n"
PANYU = "gd-440113-sme,广州市番禺区中小企业服务中心,county,440113,,,0\n"


def institution_ids(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(InstitutionRow.id)).all())


def recorded(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(DirectoryVersion.version)).all())


def test_every_import_is_recorded_and_loads_back(db_engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "directory.json"
    first = import_directory(
        NAMED, target, "v1", source="a.csv", imported_by="admin-1", engine=db_engine
    )
    assert first.recorded and first.changed == len(PACKAGED.entries) and first.removed == 0
    second = import_directory(
        NAMED + TIANHE, target, "v2", source="b.csv", imported_by="cli:ops", engine=db_engine
    )
    assert (second.changed, second.removed) == (1, 1)  # the office in, its placeholder out
    assert institution_ids(db_engine) == {e.id for e in second.directory.entries}

    history = version_history(db_engine)
    assert [(h.version, h.imported_by, h.source) for h in history] == [
        ("v2", "cli:ops", "b.csv"),
        ("v1", "admin-1", "a.csv"),
    ]
    assert history[0].institutions == history[1].institutions + 1
    old, new = load_version(db_engine, "v1"), load_version(db_engine, "v2")
    assert old is not None and new is not None
    assert load_version(db_engine, "v1") is old  # cached: versions never change
    assert load_version(db_engine, "nope") is None
    county = old.route("440106", Category.FINANCING, Tier.COUNTY)
    assert county is not None and county.id == "gen-440106"  # v1 still routes as it did
    county = new.route("440106", Category.FINANCING, Tier.COUNTY)
    assert county is not None and county.id == "gd-440106-sme"
    assert [r.version for r in new.imports_log()] == ["v1", "v2"]


def test_without_a_file_an_import_is_recorded_only(db_engine: Engine, tmp_path: Path) -> None:
    """An API or CLI with no directory file: the version is recorded (the newest, which the
    workers route by), and its import log continues the newest version's."""
    first = import_directory(
        NAMED, tmp_path / "directory.json", "v1", source="a", imported_by="a", engine=db_engine
    )
    assert first.recorded
    second = import_directory(
        NAMED + TIANHE, None, "v2", source="b.csv", imported_by="admin-1", engine=db_engine
    )
    assert second.recorded and (second.changed, second.removed) == (1, 1)
    assert newest_version(db_engine) == "v2"
    assert current_directory(db_engine, tmp_path / "directory.json").version == "v2"
    stored = load_version(db_engine, "v2")
    assert stored is not None and [r.version for r in stored.imports_log()] == ["v1", "v2"]
    assert Directory.load(tmp_path / "directory.json").version == "v1"  # not this one's file
    with pytest.raises(DirectoryError, match="'v2' was imported before"):
        import_directory(NAMED, None, "v2", source="c", imported_by="a", engine=db_engine)
    with pytest.raises(ValueError, match="needs a database or a directory file"):
        import_directory(NAMED, None, "v3", source="c", imported_by="a", engine=None)


def test_an_invalid_or_repeated_import_changes_nothing(db_engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "directory.json"
    import_directory(NAMED, target, "v1", source="a.csv", imported_by="a", engine=db_engine)
    before, ids = target.read_bytes(), institution_ids(db_engine)
    with pytest.raises(DirectoryError) as bad:
        import_directory(
            NAMED + "x,X,,330106,\n", target, "v2", source="b", imported_by="a", engine=db_engine
        )
    [problem] = bad.value.problems
    assert (problem.line, problem.field, problem.kind) == (
        NAMED.count("\n") + 1,
        "tier",
        "missing_tier",
    )
    # the file's log lost (a new file), the version table still knows v1
    other = tmp_path / "other.json"
    with pytest.raises(DirectoryError, match="'v1' was imported before") as again:
        import_directory(NAMED, other, "v1", source="c", imported_by="a", engine=db_engine)
    assert again.value.problems[0].kind == "version_exists"
    assert not other.exists()
    assert target.read_bytes() == before and institution_ids(db_engine) == ids
    assert recorded(db_engine) == ["v1"]


def test_a_failed_commit_puts_the_previous_file_back(
    db_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "directory.json"
    import_directory(NAMED, target, "v1", source="a", imported_by="a", engine=db_engine)
    before = target.read_bytes()

    def refuse(self: Session) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Session, "commit", refuse)
    with pytest.raises(RuntimeError, match="went away"):
        import_directory(
            NAMED + TIANHE, target, "v2", source="b", imported_by="a", engine=db_engine
        )
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert recorded(db_engine) == ["v1"] and "gd-440106-sme" not in institution_ids(db_engine)


def test_the_packaged_directory_is_recorded_once(db_engine: Engine) -> None:
    assert record_file(db_engine, None, "cli:seed") == (PACKAGED.version, True)
    assert record_file(db_engine, None, "cli:seed") == (PACKAGED.version, False)
    loaded = load_version(db_engine, PACKAGED.version)
    assert loaded is not None and len(loaded.entries) == len(PACKAGED.entries)
    # the newest version: the institution table follows it, as after an import
    assert institution_ids(db_engine) == {e.id for e in PACKAGED.entries}


def test_the_packaged_directory_never_displaces_an_import(sqlite_url: str, tmp_path: Path) -> None:
    """Stamped with the time it is recorded, the packaged directory (no import time of its
    own) would become the newest version and route every request by the demo's units: it
    goes only into a database without versions, from the CLI as from a worker."""
    engine = make_engine(sqlite_url)
    try:
        import_directory(NAMED + TIANHE, None, "v9", source="a", imported_by="a", engine=engine)
        with pytest.raises(DirectoryError, match="Import it instead"):
            record_file(engine, None, "cli:admin")
        env = {**os.environ, "TIERFLOW_DATABASE_URL": sqlite_url, "TIERFLOW_HOME": str(tmp_path)}
        env.pop("TIERFLOW_DIRECTORY_FILE", None)
        refused = subprocess.run(
            [sys.executable, "-m", "tierflow.cli", "directory", "record"],
            env=env | {"TIERFLOW_LANG": "en"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "Import it instead" in refused.stdout + refused.stderr
        assert newest_version(engine) == "v9" and "gd-440106-sme" in institution_ids(engine)
        assert recorded(engine) == ["v9"]
    finally:
        engine.dispose()


def test_a_file_older_than_the_newest_import_leaves_the_institution_table(
    db_engine: Engine, tmp_path: Path
) -> None:
    """A file recorded with its own (earlier) import time is not the current directory: the
    table keeps matching the newest import."""
    import_directory(NAMED + TIANHE, None, "v9", source="a", imported_by="a", engine=db_engine)
    table = institution_ids(db_engine)
    assert "gd-440106-sme" in table
    data = json.loads(Path(PACKAGED_PATH).read_text("utf-8"))
    data["version"] = "v0"
    data["imports"] = [
        {"version": "v0", "at": "2026-01-05T00:00:00+00:00", "source": "old.csv", "institutions": 1}
    ]
    older = tmp_path / "directory.json"
    older.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert record_file(db_engine, older, "worker") == ("v0", True)
    assert newest_version(db_engine) == "v9" and institution_ids(db_engine) == table


def test_an_empty_institution_table_is_filled_once(db_engine: Engine) -> None:
    """A database recorded before the table followed recorded versions (or never seeded)
    gets its rows from the directory; a table with rows is the imports' to keep."""
    filled = fill_institutions(db_engine, PACKAGED)
    assert filled is not None and len(filled.entries) == len(PACKAGED.entries)
    assert institution_ids(db_engine) == {e.id for e in PACKAGED.entries}
    assert fill_institutions(db_engine, Directory.covering([], version="x")) is None


def test_the_cli_import_records_into_the_configured_database(
    db_url: str, db_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    csv_file, target = tmp_path / "天河.csv", tmp_path / "directory.json"
    csv_file.write_text(NAMED + TIANHE, encoding="utf-8")
    runner = CliRunner(env=language_env())  # Chinese, the default; English below
    done = runner.invoke(
        cli, ["directory", "import", str(csv_file), "--to", str(target), "--version", "2026.12"]
    )
    assert done.exit_code == 0, done.output
    assert "；已由 cli:" in done.output and "记入数据库，机构表已更新" in done.output
    [row] = version_history(db_engine)
    assert (row.version, row.source) == ("2026.12", "天河.csv")
    assert row.imported_by.startswith("cli:")
    assert "gd-440106-sme" in institution_ids(db_engine)
    assert "gen-440106" not in institution_ids(db_engine)

    bad = tmp_path / "bad.csv"
    bad.write_text(NAMED + "x,X,county,990101,\n", encoding="utf-8")
    refused = runner.invoke(cli, ["directory", "import", str(bad), "--to", str(target)])
    assert refused.exit_code == 1 and "未导入：" in refused.output
    assert "第 66 行，区划代码：区划代码 990101 不在 GB/T 2260 区划数据中" in refused.output
    assert recorded(db_engine) == ["2026.12"]

    file_only = runner.invoke(
        cli,
        ["directory", "import", str(csv_file), "--to", str(target), "--no-db"],
        env=language_env("en"),
    )
    assert file_only.exit_code == 0 and "no database" in file_only.output
    named = runner.invoke(  # the admin's name is not checked where no database is used
        cli,
        ["directory", "import", str(csv_file), "--to", str(tmp_path / "named.json"), "--no-db"],
        env=language_env("en") | {"TIERFLOW_OPERATOR": "zhang.wei"},
    )
    assert named.exit_code == 0, named.output
    assert recorded(db_engine) == ["2026.12"]
    assert Directory.load(target).version != "2026.12"

    listed = runner.invoke(cli, ["directory", "record", "--directory", str(target)])
    assert listed.exit_code == 0 and "已记录机构名录版本" in listed.output
    assert len(recorded(db_engine)) == 2

    # the same sheet again: nothing imported, no version added (a nightly sync need not fail)
    same = runner.invoke(cli, ["directory", "import", str(csv_file), "--version", "2027.0"])
    assert same.exit_code == 0, same.output
    assert "中的 65 个机构与已记录的最新版本" in same.output
    assert "未导入，也未新增版本" in same.output
    assert len(recorded(db_engine)) == 2
    # a dry run says what the import would change, and writes nothing
    csv_file.write_text(NAMED + TIANHE + PANYU, encoding="utf-8")
    before = institution_ids(db_engine)
    dry = runner.invoke(cli, ["directory", "import", str(csv_file), "--version", "d1", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "试运行：版本 " in dry.output and "（机构表写入 " in dry.output
    assert "未写入任何内容" in dry.output
    assert len(recorded(db_engine)) == 2 and institution_ids(db_engine) == before
    # no directory file: recorded in the database only, where the workers find it
    only_db = runner.invoke(cli, ["directory", "import", str(csv_file), "--version", "2027.1"])
    assert only_db.exit_code == 0, only_db.output
    assert only_db.output.startswith("数据库：版本 2027.1：导入 ")
    assert newest_version(db_engine) == "2027.1" and Directory.load(target).version != "2027.1"
    exported = runner.invoke(cli, ["directory", "export"])  # what the workers route with
    assert exported.exit_code == 0 and "gd-440106-sme," in exported.stdout
    listed = runner.invoke(cli, ["directory", "list", "--prefix", "440106"])
    assert listed.exit_code == 0 and listed.stdout.startswith("gd-440106-sme\t")
    assert "# 版本 2027.1" in listed.output
    nowhere = runner.invoke(cli, ["directory", "import", str(csv_file), "--no-db"])
    assert nowhere.exit_code == 1 and "无处可导入" in nowhere.output


@pytest.mark.parametrize("bad_id", ["浙江中心", "gd 440106", "-gd-440106", "gd/440106"])
def test_a_new_id_must_be_one_the_api_takes(db_engine: Engine, tmp_path: Path, bad_id: str) -> None:
    """The API's filters and a reassignment take ``INSTITUTION_ID_PATTERN`` ids only: an
    entry with another id could not be found or reassigned to."""
    row = TIANHE.replace("gd-440106-sme", f'"{bad_id}"')
    with pytest.raises(DirectoryError) as refused:
        import_directory(NAMED + row, None, "v1", source="a", imported_by="a", engine=db_engine)
    [problem] = refused.value.problems
    assert (problem.line, problem.field, problem.kind) == (NAMED.count("\n") + 1, "id", "bad_id")
    assert f"id {bad_id} must be 1-64 letters, digits or _ . : -" in str(refused.value)
    assert recorded(db_engine) == [] and institution_ids(db_engine) == set()


def test_a_directory_file_with_such_an_id_is_not_recorded_but_a_recorded_one_loads(
    db_engine: Engine, tmp_path: Path
) -> None:
    import_directory(NAMED + TIANHE, None, "v1", source="a", imported_by="a", engine=db_engine)
    with Session(db_engine) as session:  # as a version recorded before the rule was
        old = session.get(DirectoryVersion, "v1")
        assert old is not None
        content = old.content = old.content.replace("gd-440106-sme", "广州天河")
        session.add(old)
        session.commit()
    loaded = load_version(db_engine, "v1")
    assert loaded is not None and loaded.get("广州天河") is not None

    seeded = tmp_path / "directory.json"
    seeded.write_text(content.replace('"v1"', '"v2"'), encoding="utf-8")
    with pytest.raises(DirectoryError, match="id '广州天河' must be 1-64 letters"):
        record_file(db_engine, seeded, "seed")
    assert recorded(db_engine) == ["v1"]


def test_the_cli_adds_users_of_the_imported_directory(sqlite_url: str, tmp_path: Path) -> None:
    """After an import adds a unit, its caseworker can be added, by the directory the workers
    route by (the database's newest version), not the file the import left alone."""
    engine = make_engine(sqlite_url)
    try:
        import_directory(NAMED + TIANHE, None, "v2", source="b.csv", imported_by="a", engine=engine)
    finally:
        engine.dispose()
    env = {
        **os.environ,
        "TIERFLOW_DATABASE_URL": sqlite_url,
        "TIERFLOW_HOME": str(tmp_path),
        "TIERFLOW_LANG": "en",
    }
    env.pop("TIERFLOW_DIRECTORY_FILE", None)
    added = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "users", "add", "cw-th", "--role", "caseworker",
         "--institution", "gd-440106-sme"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "gd-440106-sme" in added.stdout


def test_the_accounts_of_a_unit_that_moved_follow_it(db_engine: Engine) -> None:
    """A supervisor's region is its unit's division, copied onto the account when it was
    made: once an import moves the unit, the account oversees the unit's new place, not the
    old one; the accounts of units that stayed are left as they were."""
    create_user(db_engine, "lead-sz", Role.SUPERVISOR, "js-320500-sme")
    create_user(db_engine, "ana", Role.CASEWORKER, "zj-330106-sme")
    import_directory(NAMED, None, "v1", source="a", imported_by="a", engine=db_engine)
    moved = NAMED.replace(
        "js-320500-sme,苏州市中小企业服务中心,municipal,320500,",
        "js-320500-sme,苏州市中小企业服务中心,municipal,320600,",
    )
    assert moved != NAMED
    import_directory(moved, None, "v2", source="b", imported_by="a", engine=db_engine)
    with Session(db_engine) as session:
        lead = session.get(ApiUser, "lead-sz")
        caseworker = session.get(ApiUser, "ana")
        assert lead is not None and caseworker is not None
        assert (lead.tier, lead.division_code) == (Tier.MUNICIPAL, "320600")
        assert (caseworker.tier, caseworker.division_code) == (Tier.COUNTY, "330106")
