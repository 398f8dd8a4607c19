"""load_bird: the train, dev and mini-dev layouts, evidence and difficulty, rejects with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.bird import load_bird
from t2s_pipeline_tests.benchmarks.test_spider import MUSIC_TABLES_ENTRY, make_database

GOOD_DEV = {"question_id": 0, "db_id": "music", "question": "How many singers are older than 40?",
            "evidence": "older than 40 refers to age > 40", "SQL": "SELECT count(*) FROM singer WHERE age > 40",
            "difficulty": "simple"}
GOOD_TRAIN = {"db_id": "music", "question": "Name the youngest singer.",
              "evidence": "youngest refers to MIN(age)", "SQL": "SELECT name FROM singer ORDER BY age LIMIT 1"}


def write_bird_folder(root: Path, split: str, records: list | str, db_ids=("music",)) -> Path:
    """One BIRD split in its own layout: <file>.json, <prefix>_tables.json, <prefix>_databases/<db>/<db>.sqlite."""
    split_file, prefix = {"train": ("train.json", "train"), "dev": ("dev.json", "dev"),
                          "mini_dev": ("mini_dev_sqlite.json", "dev")}[split]
    root.mkdir(parents=True, exist_ok=True)
    for db_id in db_ids:
        make_database(root / f"{prefix}_databases" / db_id / f"{db_id}.sqlite")
    (root / f"{prefix}_tables.json").write_text(json.dumps([MUSIC_TABLES_ENTRY]))
    (root / split_file).write_text(records if isinstance(records, str) else json.dumps(records, indent=4))
    return root


def test_dev_layout_keeps_evidence_and_difficulty_and_rejects_bad_records(tmp_path):
    dev_json = json.dumps([
        GOOD_DEV,
        {"db_id": "music", "question": "No SQL?", "evidence": "", "difficulty": "simple"},
        {"db_id": "california_schools", "question": "Where?", "evidence": "", "SQL": "SELECT 1",
         "difficulty": "moderate"},
        {"db_id": "music", "question": "Broken SQL?", "evidence": "", "SQL": "SELEC name FROM singer",
         "difficulty": "challenging"},
        {"db_id": "music", "question": "Oldest?", "evidence": "oldest refers to MAX(age)",
         "SQL": "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "difficulty": "challenging"},
    ], indent=4)
    dev_json = dev_json.replace('"question": "Where?"', '"question": "Where?, ')  # one record becomes invalid JSON
    root = write_bird_folder(tmp_path / "dev_20240627", "dev", dev_json)

    loaded = load_bird(root)

    reasons = {r["id"]: (r["reason"], r["detail"]) for r in loaded.rejects}
    assert reasons["bird/dev/1"][0] == "bad_record" and reasons["bird/dev/1"][1].endswith("field: query/SQL")
    assert reasons["bird/dev/2"][0] == "bad_record" and reasons["bird/dev/2"][1].startswith("malformed JSON")
    assert reasons["bird/dev/3"][0] == "gold_parse_error"
    assert [e["id"] for e in loaded.examples] == ["bird/dev/0", "bird/dev/4"]
    assert loaded.input_count == 5 == len(loaded.examples) + len(loaded.rejects)
    first = loaded.examples[0]
    assert first["evidence"] == "older than 40 refers to age > 40"
    assert first["difficulty"] == "simple"
    assert first["gold_sql"] == GOOD_DEV["SQL"]
    assert loaded.examples[1]["difficulty"] == "challenging"
    assert loaded.databases == {"music": root / "dev_databases" / "music" / "music.sqlite"}
    assert [t["name"] for t in loaded.schemas["music"]["tables"]] == ["singer", "concert"]  # from dev_tables.json


def test_train_layout_has_no_difficulty_and_its_own_database_folder(tmp_path):
    ghost = dict(GOOD_TRAIN, db_id="ghost")
    root = write_bird_folder(tmp_path / "train", "train", [GOOD_TRAIN, ghost])

    loaded = load_bird(root)

    assert [e["id"] for e in loaded.examples] == ["bird/train/0"]
    assert loaded.examples[0]["difficulty"] is None and loaded.examples[0]["evidence"] == GOOD_TRAIN["evidence"]
    (reject,) = loaded.rejects
    assert reject["reason"] == "missing_database"
    assert str(Path("train_databases") / "ghost" / "ghost.sqlite") in reject["detail"]
    assert loaded.databases["music"] == root / "train_databases" / "music" / "music.sqlite"


def test_mini_dev_layout_reads_mini_dev_sqlite_json(tmp_path):
    records = [dict(GOOD_DEV, question_id=1471), dict(GOOD_DEV, question_id=1472, difficulty="moderate")]
    root = write_bird_folder(tmp_path / "MINIDEV", "mini_dev", records)

    loaded = load_bird(root)

    assert [(e["id"], e["difficulty"]) for e in loaded.examples] == [
        ("bird/mini_dev/0", "simple"), ("bird/mini_dev/1", "moderate")]
    assert loaded.databases["music"] == root / "dev_databases" / "music" / "music.sqlite"


def test_splits_select_and_rename_and_max_samples_counts_the_rest(tmp_path):
    root = write_bird_folder(tmp_path / "bird", "train", [GOOD_TRAIN] * 3)
    write_bird_folder(root, "dev", [GOOD_DEV] * 2)

    both = load_bird(root)
    assert sorted({e["split"] for e in both.examples}) == ["dev", "train"]

    renamed = load_bird(root, splits={"dev": "test"})
    assert [e["id"] for e in renamed.examples] == ["bird/test/0", "bird/test/1"]

    capped = load_bird(root, splits={"train": "train", "dev": "dev"}, max_samples=4)
    assert [e["id"] for e in capped.examples] == ["bird/train/0", "bird/train/1", "bird/train/2", "bird/dev/0"]
    assert capped.skipped_max_samples == 1 and capped.input_count == 4 == len(capped.examples) + len(capped.rejects)


def test_missing_folder_file_and_unknown_split_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_bird"):
        load_bird(tmp_path / "no_such_bird")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train.json.*dev.json.*mini_dev_sqlite.json"):
        load_bird(tmp_path / "empty")
    root = write_bird_folder(tmp_path / "dev", "dev", [GOOD_DEV])
    with pytest.raises(FileNotFoundError, match="train.json"):
        load_bird(root, splits={"train": "train"})
    with pytest.raises(ValueError, match="unknown BIRD split"):
        load_bird(root, splits={"test": "test"})
