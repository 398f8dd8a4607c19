"""Benchmark loaders into the common example record (see records.py)."""
