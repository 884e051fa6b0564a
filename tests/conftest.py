"""Session-wide fixtures: one real Temporal, Kafka and database for the whole run."""

import atexit
import os
import shutil
import tempfile

from tierflow_dev.devstack import jvm

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.stack",
    "tests.fixtures.console",
    "tests.fixtures.cpu_report",
]

# Every broker the suite starts, in this process or through the CLI, lives minutes: start it
# on the short-lived JVM options (``tierflow_dev.devstack.jvm``).
os.environ.setdefault(jvm.OPTIONS_ENV, jvm.SHORT_LIVED_OPTIONS)

# No test touches a checkout's own stack (`make up` keeps it in .tierflow, perhaps with a
# database of its own in TIERFLOW_DATABASE_URL): a test's Settings() and the processes it
# starts default to a home of this run's own.
RUN_HOME = tempfile.mkdtemp(prefix="tierflow-tests-")
os.chmod(RUN_HOME, 0o755)  # as the suite's other homes: a server may run as another user
atexit.register(shutil.rmtree, RUN_HOME, ignore_errors=True)
os.environ["TIERFLOW_HOME"] = RUN_HOME
os.environ.pop("TIERFLOW_DATABASE_URL", None)
