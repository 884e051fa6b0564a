"""`tierflow bench` scenarios: one module per scenario plus the shared harness."""
