"""Print the results table of docs/benchmarks/*.json as Markdown (for README.md)."""

import json
from pathlib import Path

HERE = Path(__file__).parent
for path in sorted(HERE.glob("*.json")):
    doc = json.loads(path.read_text())
    print(f"### {doc['scenario']}\n\n`{doc['command']}` ({doc['date']}, quick={doc['quick']})\n")
    for name, rec in doc.get("targets", {}).items():
        verdict = "met" if rec["met"] else "MISSED"
        print(f"- target {name}: {rec['value']} ({rec['target']}) -> {verdict}")
    print()
