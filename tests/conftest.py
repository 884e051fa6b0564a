"""Session-wide fixtures: one real Temporal, Kafka and database for the whole run."""

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.stack",
    "tests.fixtures.console",
]
