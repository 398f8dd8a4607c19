"""Source specs: validated with errors that name the field, loaded by kind, weights into stats."""

from __future__ import annotations

import pytest

from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.sources import SourceSpec, load_source, parse_source, resolve_sources
from t2s_pipeline_tests.benchmarks.test_bird import GOOD_DEV, write_bird_folder
from t2s_pipeline_tests.benchmarks.test_spider import write_spider_folder

GOOD = {"db_id": "music", "question": "How many singers?", "query": "SELECT count(*) FROM singer"}


@pytest.mark.parametrize("source, message", [
    ({"kind": "parquet", "path": "x"}, "`kind` must be one of"),
    ({"kind": "bird"}, "`path` is required"),
    ({"kind": "embedded", "path": "x"}, "takes no `path`"),
    ({"kind": "bird", "path": "x", "weight": 0}, "`weight` must be a number > 0"),
    ({"kind": "bird", "path": "x", "weight": float("nan")}, "`weight`"),
    ({"kind": "bird", "path": "x", "max_samples": 0}, "`max_samples` must be an integer >= 1"),
    ({"kind": "bird", "path": "x", "splits": {"validation": "dev"}}, "bird has no split 'validation'"),
    ({"kind": "bird", "path": "x", "splits": {"train": "a", "dev": "a"}}, "two source splits map to one"),
    ({"kind": "spider", "path": "x", "splits": {"dev": "dev/x"}}, "not a plain split name"),
    ({"kind": "bird", "path": "x", "cot_only": True}, "`cot_only` applies to kind synsql only"),
    ({"kind": "synsql", "path": "x", "fields": {"sql": "answer"}}, "`fields` applies to kind jsonl only"),
    ({"kind": "jsonl", "path": "x", "name": "a/b"}, "`name` must be a plain name"),
    ({"kind": "jsonl", "path": "x", "colour": "red"}, "unknown field"),
])
def test_invalid_sources_name_the_field(source, message):
    with pytest.raises(ValueError, match=message):
        parse_source(source)


def test_valid_source_and_the_older_shorthands():
    spec = parse_source({"kind": "synsql", "path": "/data/synsql", "weight": 0.5, "max_samples": 1000, "cot_only": True})
    assert spec == SourceSpec(kind="synsql", path="/data/synsql", weight=0.5, max_samples=1000, cot_only=True)

    specs = resolve_sources([], embedded=True, embedded_seed=3, spider_roots=["/data/spider"])
    assert [(s.kind, s.path, s.seed) for s in specs] == [("embedded", "", 3), ("spider", "/data/spider", 0)]
    # An embedded source listed in `sources` replaces the `embedded` shorthand instead of loading twice.
    specs = resolve_sources([{"kind": "embedded", "weight": 2.0}], embedded=True)
    assert [(s.kind, s.weight) for s in specs] == [("embedded", 2.0)]
    with pytest.raises(ValueError, match="no source"):
        resolve_sources([], embedded=False)


def test_load_source_by_kind_and_weights_reach_stats(tmp_path):
    spider = parse_source({"kind": "spider", "path": str(write_spider_folder(tmp_path / "spider", [{**GOOD, "question": f"q{i}?"} for i in range(3)])),
                           "splits": {"dev": "test"}, "max_samples": 2, "weight": 0.25})
    bird = parse_source({"kind": "bird", "path": str(write_bird_folder(tmp_path / "bird", "dev", [GOOD_DEV])),
                         "name": "bird_dev", "weight": 3})
    loaded = [load_source(spider, tmp_path / "work0"), load_source(bird, tmp_path / "work1")]

    stats = write_raw_benchmarks(loaded, tmp_path / "raw")

    assert stats["benchmarks"]["spider"] == {"input": 2, "kept": 2, "rejected": 0, "splits": {"test": 2},
                                             "skipped_max_samples": 1, "weight": 0.25}
    assert stats["benchmarks"]["bird_dev"]["weight"] == 3.0
    assert stats["benchmarks"]["bird_dev"]["splits"] == {"dev": 1}


def test_one_benchmark_with_two_weights_is_refused(tmp_path):
    root = write_spider_folder(tmp_path / "spider", [GOOD])
    train = load_source(parse_source({"kind": "spider", "path": str(root), "splits": {"dev": "train"}}), tmp_path)
    dev = load_source(parse_source({"kind": "spider", "path": str(root), "weight": 2}), tmp_path)
    with pytest.raises(ValueError, match="two weights"):
        write_raw_benchmarks([train, dev], tmp_path / "raw")
