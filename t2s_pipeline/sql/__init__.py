"""SQL core: sandboxed execution, result comparison, schema text. No Dagster, no torch."""
