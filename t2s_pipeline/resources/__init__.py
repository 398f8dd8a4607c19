"""Dagster resources: directory storage, the accelerate launcher (local or Slurm), tracking."""
