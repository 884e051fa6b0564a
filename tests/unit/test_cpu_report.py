"""The suite's CPU summary (``tests/fixtures/cpu_report.py``) in a pytest run of its own."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

BUSY_AND_IDLE = """
import time

def test_busy():
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass

def test_idle():
    pass
"""


def test_the_summary_puts_the_test_that_burned_cpu_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_work=BUSY_AND_IDLE)
    plugins = ("tests.fixtures.cpu_report", "no:cacheprovider", "no:asyncio")
    result = pytester.runpytest(*(arg for name in plugins for arg in ("-p", name)))
    result.assert_outcomes(passed=2)
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "most CPU in the test processes" in line)
    listed = [re.match(r"\s*([\d.]+)s (test|file) (\S+)", line) for line in lines[start + 1 :]]
    rows = [(float(m[1]), m[2], m[3]) for m in listed if m]
    tests = [row for row in rows if row[1] == "test"]
    assert tests[0][2] == "test_work.py::test_busy" and tests[0][0] >= 0.3
    assert tests[1][2] == "test_work.py::test_idle" and tests[1][0] < 0.1
    assert ("file", "test_work.py") in {(kind, key) for _, kind, key in rows}
