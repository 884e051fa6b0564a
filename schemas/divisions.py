"""The GB/T 2260 division codes tierflow knows, and whether a code is one of them.

Today this is the part of GB/T 2260 the institution directory covers (Zhejiang and Jiangsu
and the national code): the same divisions as ``tierflow/data/directory.json``, checked by
``tests/unit/test_edge_inputs.py``. A request from any other division is refused at the
edge until the national list replaces this one. Pure data, no file access: the workflow
sandbox imports it.
"""

from __future__ import annotations

# code -> name (GB/T 2260)
DIVISIONS: dict[str, str] = {
    "000000": "中华人民共和国",
    "330000": "浙江省",
    "330100": "杭州市",
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330122": "桐庐县",
    "330127": "淳安县",
    "330200": "宁波市",
    "330203": "海曙区",
    "330205": "江北区",
    "330206": "北仑区",
    "330212": "鄞州区",
    "330226": "宁海县",
    "330282": "慈溪市",
    "330300": "温州市",
    "330302": "鹿城区",
    "330303": "龙湾区",
    "330324": "永嘉县",
    "330381": "瑞安市",
    "330382": "乐清市",
    "320000": "江苏省",
    "320500": "苏州市",
    "320505": "虎丘区",
    "320506": "吴中区",
    "320581": "常熟市",
}


def check_known_division(code: str) -> str:
    """Return ``code`` if it is in the division data; raise ValueError saying what is known."""
    if code not in DIVISIONS:
        raise ValueError(
            f"division code {code!r} is not in the division data (GB/T 2260 codes of "
            "Zhejiang and Jiangsu, and 000000)"
        )
    return code
