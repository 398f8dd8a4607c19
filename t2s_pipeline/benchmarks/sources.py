"""Named benchmark sources, each loaded into a LoadedBenchmark (see spider.py)."""

from __future__ import annotations

from pathlib import Path

from t2s_pipeline.benchmarks.spider import LoadedBenchmark, load_spider


def load_embedded(work_dir: str | Path, seed: int = 0) -> LoadedBenchmark:
    """The shipped mini benchmark: written as a Spider-format folder under work_dir, then loaded."""
    # Imported here so the other loaders work while the embedded package is absent or being changed.
    from t2s_pipeline.benchmarks.embedded import write_embedded_benchmark

    folder = write_embedded_benchmark(Path(work_dir), seed=seed)
    return load_spider(folder, benchmark="embedded", split_files={"train": "train.json"})
