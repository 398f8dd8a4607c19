"""The embedded mini benchmark: small Spider-format databases and questions generated from code.

It needs no download, so the pipeline and its tests run anywhere.
"""

from .generate import spider_tables_entry, write_embedded_benchmark

__all__ = ["spider_tables_entry", "write_embedded_benchmark"]
