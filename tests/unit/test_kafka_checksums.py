"""Kafka record batches are checksummed in C (the ``crc32c`` extra of kafka-python).

Every batch a producer builds and every batch a consumer reads (``check_crcs``) carries a
CRC-32C. kafka-python falls back to a pure-Python loop when the ``crc32c`` package is missing,
about a thousand times slower: ~0.3 ms per 3 kB batch in the worker's publishing thread.
"""

from __future__ import annotations

import os

from kafka.record import util
from kafka.record._crc32c import crc as pure_python_crc32c


def test_batches_are_checksummed_by_the_c_implementation() -> None:
    assert util.crc32c_c is not None, "install kafka-python[crc32c] (see pyproject.toml)"
    assert util.calc_crc32c.__defaults__ == (util.crc32c_c,)


def test_the_c_checksum_agrees_with_kafka_pythons_own() -> None:
    for size in (0, 1, 61, 3000):
        data = os.urandom(size)
        assert util.calc_crc32c(memoryview(data)) == pure_python_crc32c(data)
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
