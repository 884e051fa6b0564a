"""How a ``tierflow`` process ends once the Temporal SDK's native bridge is loaded in it.

The SDK's Rust threads may still call into Python while the interpreter finalizes, and that
aborts a process that has done its work ("Fatal Python error: PyGILState_Release", exit 134:
temporalio/sdk-python#300); ``make up`` ended so after the stack was up. Such a process does
what finalizing would do for its own code (waits for its non-daemon threads and runs the exit
handlers: a Kafka producer's flush, logging's) and then leaves without the interpreter's
teardown.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

NATIVE_BRIDGE = "temporalio.bridge.temporal_sdk_bridge"


def leave(code: object) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` takes it (None: 0; an int; else printed, 1)."""
    if NATIVE_BRIDGE not in sys.modules:
        sys.exit(code)  # type: ignore[arg-type]  # sys.exit takes any object
    status = _status(code)
    # what finalizing does first: wake idle thread pools and wait for non-daemon threads,
    # then run the exit handlers (private hooks, the interpreter's own, stable since 3.9)
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
