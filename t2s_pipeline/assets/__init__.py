"""The Dagster layer: one module per stage of the chain."""
