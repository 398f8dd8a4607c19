"""Benchmark sources as a run configures them: a validated SourceSpec each, loaded into a LoadedBenchmark.

A source is a mapping (a list of them is raw_benchmarks' `sources`):

    kind          embedded | spider | bird | synsql | jsonl
    path          the folder (a .jsonl file or folder for jsonl); none for embedded
    name          the benchmark name in ids and stats (default: the kind)
    weight        > 0, its share in a later training mix (default 1.0), recorded in stats.json
    max_samples   keep the first N usable examples in file order; the records after them are counted
                  as `skipped_max_samples` in stats.json and are not input records of the set
    splits        source split -> our split name; only the splits listed are loaded (default: all
                  the source has, under their own names)
    seed          embedded: seed of the generated data
    cot_only      synsql: keep only records with a chain of thought (the others rejected as `no_cot`)
    fields        jsonl: field -> the record's name for it (see jsonl.py)
    database_dir  jsonl: folder of <db_id>/<db_id>.sqlite named by the records' db_id
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from t2s_pipeline.benchmarks.bird import load_bird
from t2s_pipeline.benchmarks.jsonl import load_jsonl
from t2s_pipeline.benchmarks.spider import DEFAULT_SPLIT_FILES, LoadedBenchmark, load_spider
from t2s_pipeline.benchmarks.synsql import load_synsql

# The splits each kind has, as its files name them; None: jsonl's file names decide.
SOURCE_SPLITS = {
    "embedded": ("train",),
    "spider": tuple(DEFAULT_SPLIT_FILES),
    "bird": ("train", "dev", "mini_dev"),
    "synsql": ("train",),
    "jsonl": None,
}
# Options that only one kind reads, with their defaults.
KIND_OPTIONS = {"seed": ("embedded", 0), "cot_only": ("synsql", False), "fields": ("jsonl", {}),
                "database_dir": ("jsonl", "")}
# Benchmark and split names end up in ids (`<benchmark>/<split>/<n>`) and file names.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    path: str = ""
    name: str = ""
    weight: float = 1.0
    max_samples: int | None = None
    splits: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    cot_only: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    database_dir: str = ""


def parse_source(source: Mapping) -> SourceSpec:
    """Validate one source mapping; every error names the field and the source."""
    where = f"source {dict(source)!r}"
    known = {f.name for f in fields(SourceSpec)}
    unknown = sorted(set(source) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; the fields are {', '.join(sorted(known))}")
    kind = source.get("kind")
    if kind not in SOURCE_SPLITS:
        raise ValueError(f"{where}: `kind` must be one of {', '.join(SOURCE_SPLITS)}, got {kind!r}")
    spec = SourceSpec(**{k: v for k, v in source.items() if v is not None or k == "max_samples"})
    if kind == "embedded" and spec.path:
        raise ValueError(f"{where}: an embedded source takes no `path`")
    if kind != "embedded" and not spec.path:
        raise ValueError(f"{where}: `path` is required for kind {kind}")
    if spec.name and not _PLAIN_NAME.match(spec.name):
        raise ValueError(f"{where}: `name` must be a plain name (letters, digits, _ . -), got {spec.name!r}")
    if isinstance(spec.weight, bool) or not isinstance(spec.weight, (int, float)) \
            or not math.isfinite(spec.weight) or spec.weight <= 0:
        raise ValueError(f"{where}: `weight` must be a number > 0, got {spec.weight!r}")
    if spec.max_samples is not None and (isinstance(spec.max_samples, bool) or not isinstance(spec.max_samples, int)
                                         or spec.max_samples < 1):
        raise ValueError(f"{where}: `max_samples` must be an integer >= 1 (or absent), got {spec.max_samples!r}")
    _check_splits(spec, where)
    for option, (option_kind, default) in KIND_OPTIONS.items():
        if getattr(spec, option) != default and kind != option_kind:
            raise ValueError(f"{where}: `{option}` applies to kind {option_kind} only, not {kind}")
    return spec


def _check_splits(spec: SourceSpec, where: str) -> None:
    if not isinstance(spec.splits, Mapping):
        raise ValueError(f"{where}: `splits` must map a source split to our split name")
    allowed = SOURCE_SPLITS[spec.kind]
    for theirs, ours in spec.splits.items():
        if allowed is not None and theirs not in allowed:
            raise ValueError(f"{where}: `splits`: {spec.kind} has no split {theirs!r}; it has {', '.join(allowed)}")
        if not isinstance(ours, str) or not _PLAIN_NAME.match(ours):
            raise ValueError(f"{where}: `splits`: {ours!r} is not a plain split name")
    if len(set(spec.splits.values())) != len(spec.splits):
        # Each source split numbers its records from 0: two under one name would repeat ids.
        raise ValueError(f"{where}: `splits`: two source splits map to one split name")


def resolve_sources(sources: list[Mapping], embedded: bool = True, embedded_seed: int = 0,
                    spider_roots: list[str] = ()) -> list[SourceSpec]:
    """The run's sources: `sources`, plus the older shorthands.

    `embedded` adds the shipped benchmark unless `sources` lists an embedded one itself; each
    `spider_roots` entry is a spider source with the defaults.
    """
    specs = [parse_source(source) for source in sources]
    if embedded and not any(spec.kind == "embedded" for spec in specs):
        specs.insert(0, SourceSpec(kind="embedded", seed=embedded_seed))
    specs += [parse_source({"kind": "spider", "path": root}) for root in spider_roots]
    if not specs:
        raise ValueError("raw_benchmarks has no source: list `sources`, enable `embedded` or list `spider_roots`")
    return specs


def load_source(spec: SourceSpec, work_dir: str | Path) -> LoadedBenchmark:
    """Load one source; work_dir takes what it generates (embedded data, databases built from JSONL contexts).

    Small sources load here; synsql and jsonl come back as streams read while the artifact is written.
    """
    name = spec.name or spec.kind
    if spec.kind == "embedded":
        loaded = load_embedded(work_dir, seed=spec.seed, split=spec.splits.get("train", "train"),
                               max_samples=spec.max_samples, benchmark=name)
    elif spec.kind == "spider":
        split_files = {ours: DEFAULT_SPLIT_FILES[theirs] for theirs, ours in spec.splits.items()} or None
        loaded = load_spider(spec.path, benchmark=name, split_files=split_files, max_samples=spec.max_samples)
    elif spec.kind == "bird":
        loaded = load_bird(spec.path, benchmark=name, splits=spec.splits or None, max_samples=spec.max_samples)
    elif spec.kind == "synsql":
        loaded = load_synsql(spec.path, benchmark=name, split=spec.splits.get("train", "train"),
                             cot_only=spec.cot_only, max_samples=spec.max_samples)
    else:
        loaded = load_jsonl(spec.path, work_dir, benchmark=name, splits=spec.splits or None,
                            fields=spec.fields or None, database_dir=spec.database_dir or None,
                            max_samples=spec.max_samples)
    loaded.weight = float(spec.weight)
    return loaded


def load_embedded(work_dir: str | Path, seed: int = 0, split: str = "train", max_samples: int | None = None,
                  benchmark: str = "embedded") -> LoadedBenchmark:
    """The shipped mini benchmark: written as a Spider-format folder under work_dir, then loaded."""
    # Imported here so the other loaders work while the embedded package is absent or being changed.
    from t2s_pipeline.benchmarks.embedded import write_embedded_benchmark

    folder = write_embedded_benchmark(Path(work_dir), seed=seed)
    return load_spider(folder, benchmark=benchmark, split_files={split: "train.json"}, max_samples=max_samples)
