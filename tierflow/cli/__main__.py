"""``python -m tierflow.cli``: how the local stack and benchmarks start the processes."""

from tierflow.cli import main

main()
