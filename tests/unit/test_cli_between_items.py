"""`tierflow show`'s 可办理 line is broken between actions, never inside one: a terminal
folds a line without spaces anywhere, and 申请延期（request_extension） came out as
申请延期（r / equest_extension）."""

from __future__ import annotations

from rich.cells import cell_len

from tierflow.cli.client import between_items

ACTIONS = [
    "签收（sign_for）",
    "受理（acknowledge）",
    "补充材料（provide_info）",
    "上报上级（escalate）",
    "不予受理（reject）",
    "备注（comment）",
    "退单（return）",
    "申请延期（request_extension）",
    "承办（claim）",
    "增加协办单位（add_co_handler）",
]


def test_a_long_list_breaks_between_items_and_fits_the_width() -> None:
    line = "可办理：" + "、".join(ACTIONS)
    shown = between_items(line, ACTIONS, 80).split("\n")
    assert len(shown) == 3
    assert all(cell_len(row) <= 80 for row in shown), shown
    assert "".join(shown) == line  # nothing lost or added, the 、 ends its row
    whole = [a for a in ACTIONS if any(a in row for row in shown)]
    assert whole == ACTIONS


def test_english_rows_lose_the_space_at_the_break() -> None:
    items = ["Sign for (sign_for)", "Request an extension (request_extension)"]
    shown = between_items("allowed: " + ", ".join(items), items, 40)
    assert shown == "allowed: Sign for (sign_for),\nRequest an extension (request_extension)"


def test_a_short_or_empty_list_is_left_as_it_is() -> None:
    assert between_items("可办理：-", [], 80) == "可办理：-"
    assert between_items("可办理：签收（sign_for）", ACTIONS[:1], 80) == "可办理：签收（sign_for）"
    # an item wider than the terminal gets a row of its own, still whole
    assert between_items("x: " + ACTIONS[7], ACTIONS[7:8], 10) == "x:\n" + ACTIONS[7]
