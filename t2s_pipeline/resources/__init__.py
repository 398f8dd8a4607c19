"""Dagster resources: directory storage, the accelerate launcher."""
