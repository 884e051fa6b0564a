"""Session-wide fixtures: one real Temporal, Kafka and database for the whole run."""

import os

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
