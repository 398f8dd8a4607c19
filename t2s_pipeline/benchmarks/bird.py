"""Load BIRD in its published layouts; each split has its own file, tables file and database folder.

    train (train/)        train.json, train_tables.json, train_databases/<db_id>/<db_id>.sqlite
    dev (dev_20240627/)   dev.json, dev_tables.json, dev_databases/<db_id>/<db_id>.sqlite
    mini_dev (MINIDEV/)   mini_dev_sqlite.json, dev_tables.json, dev_databases/<db_id>/<db_id>.sqlite

Records hold db_id, question, SQL, evidence (the external knowledge) and, outside train, difficulty
(simple, moderate or challenging); mini-dev adds question_id. Apart from the names this is Spider's
shape, so each split is read by load_spider.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from t2s_pipeline.benchmarks.spider import LoadedBenchmark, load_spider


@dataclass(frozen=True)
class BirdLayout:
    split_file: str
    tables_file: str
    database_dir: str


LAYOUTS = {
    "train": BirdLayout("train.json", "train_tables.json", "train_databases"),
    "dev": BirdLayout("dev.json", "dev_tables.json", "dev_databases"),
    "mini_dev": BirdLayout("mini_dev_sqlite.json", "dev_tables.json", "dev_databases"),
}


def load_bird(
    root: str | Path,
    benchmark: str = "bird",
    splits: dict[str, str] | None = None,
    max_samples: int | None = None,
) -> LoadedBenchmark:
    """Load a BIRD folder. splits: BIRD split (train, dev, mini_dev) -> the split name in our ids;
    by default every split whose file is in `root`, under its own name.

    max_samples keeps the first N usable examples over the splits in order.
    """
    start = time.monotonic()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"BIRD folder not found: {root}")
    if splits is None:
        splits = {name: name for name, layout in LAYOUTS.items() if (root / layout.split_file).is_file()}
        if not splits:
            looked_for = ", ".join(layout.split_file for layout in LAYOUTS.values())
            raise FileNotFoundError(f"no BIRD split file in {root}: looked for {looked_for}")
    unknown = sorted(set(splits) - set(LAYOUTS))
    if unknown:
        raise ValueError(f"unknown BIRD split {unknown}: the splits are {', '.join(LAYOUTS)}")

    merged = LoadedBenchmark(benchmark=benchmark)
    for bird_split, our_split in splits.items():
        layout = LAYOUTS[bird_split]
        left = None if max_samples is None else max_samples - len(merged.examples)
        part = load_spider(root, benchmark, split_files={our_split: layout.split_file},
                           tables_file=layout.tables_file, database_dir=layout.database_dir, max_samples=left)
        merged.examples += part.examples
        merged.rejects += part.rejects
        merged.databases.update(part.databases)
        for db_id, schema in part.schemas.items():
            merged.schemas.setdefault(db_id, schema)
        merged.input_count += part.input_count
        merged.skipped_max_samples += part.skipped_max_samples
    merged.seconds = time.monotonic() - start
    return merged
