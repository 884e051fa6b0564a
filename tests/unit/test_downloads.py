"""A download's file name reaches the browser whatever it holds: a directory version in
Chinese (it made the export fail with a 500, a header being Latin-1) or a quote (it broke
the header)."""

from __future__ import annotations

from urllib.parse import unquote

from api.downloads import csv_attachment


def test_a_file_name_in_chinese_or_with_quotes_is_sent_as_rfc_6266_says() -> None:
    for name in ("directory-2026年第一版.csv", 'directory-2026 "Q1".csv', "queue.csv"):
        answer = csv_attachment("\ufeffid\r\n", name)
        header = answer.headers["content-disposition"]
        header.encode("latin-1")  # a header the server can send
        plain, encoded = header.split("; filename*=UTF-8''")
        assert plain.startswith('attachment; filename="') and plain.count('"') == 2
        assert unquote(encoded) == name
