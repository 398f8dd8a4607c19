"""Repair conversations: the first query is a near miss the judge scores wrong, then the gold; counts reconcile."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.records import make_example, read_jsonl, write_json, write_jsonl
from t2s_pipeline.samples.repairs import EMPTY, ERRORS, OTHER_ROWS, NearMisses
from t2s_pipeline.samples.trajectories import build_trajectories
from t2s_pipeline.sql.judge import judge
from t2s_pipeline.sql.schema import read_sqlite_schema
from t2s_pipeline_tests.sql.test_pipe import make_music_db

GOLDS = ["SELECT count(*) FROM singer WHERE age > {i}", "SELECT name FROM singer WHERE country = 'France'",
         "SELECT max(age) FROM singer", "SELECT name FROM singer ORDER BY age DESC LIMIT 1",
         "SELECT country, count(*) FROM singer GROUP BY country"]


@pytest.fixture
def built(tmp_path):
    pairs_dir, raw_dir, out_dir = tmp_path / "pairs", tmp_path / "raw", tmp_path / "traj"
    (raw_dir / "databases").mkdir(parents=True)
    pairs_dir.mkdir()
    db = make_music_db(raw_dir / "databases" / "music.sqlite")
    write_json(raw_dir / "schemas.json", {"music": read_sqlite_schema(db, "music")})
    pairs = [make_example("m", "dev", i, "music", f"Question {i}?", GOLDS[i % len(GOLDS)].format(i=20 + i))
             for i in range(30)]
    for pair in pairs:
        pair.update(validation="match", ordered=False)
    write_jsonl(pairs_dir / "pairs.jsonl", pairs)
    stats = build_trajectories(pairs_dir, raw_dir, out_dir, tool_share=0.3, repair_share=0.6, seed=1)
    samples = [s for split in ("train", "dev", "test") for s in read_jsonl(out_dir / f"{split}.jsonl")]
    return stats, samples, db, {p["id"]: p for p in pairs}


def test_repair_counts_reconcile(built):
    stats, samples, _, _ = built
    repairs = [s for s in samples if s["meta"]["kind"] == "repair"]
    counts = stats["repairs"]
    assert 0 < len(repairs) == counts["made"] == stats["kinds"]["repair"]
    assert counts["drawn"] == counts["made"] + counts["without_near_miss"] and 8 < counts["drawn"] < 28
    assert sum(counts["why"].values()) == counts["made"] and set(counts["why"]) <= {ERRORS, EMPTY, OTHER_ROWS}
    assert counts["mutants_tried"] == counts["made"] + counts["mutants_judged_right"]  # each tried: used or right
    assert stats["tool_samples"] == stats["kinds"]["tool_call"] and stats["repair_share"] == 0.6


def test_only_near_misses_judged_wrong_are_used_and_the_gold_answers(built):
    _, samples, db, pairs = built
    for sample in (s for s in samples if s["meta"]["kind"] == "repair"):
        gold, near_miss = pairs[sample["meta"]["id"]]["gold_sql"], sample["meta"]["near_miss"]
        assert near_miss != gold and not judge(near_miss, gold, [db]).correct
        messages = sample["messages"]
        calls = [(k, c) for k, m in enumerate(messages) if m.get("tool_calls") for c in m["tool_calls"]]
        sql_calls = [(k, json.loads(c["function"]["arguments"])["sql"]) for k, c in calls
                     if c["function"]["name"] == "execute_sql"]
        assert [sql for _, sql in sql_calls] == [near_miss, gold]
        miss_turn = messages[sql_calls[0][0]]
        assert miss_turn["train"] is False and all(m.get("train", True) for m in messages if m is not miss_turn)
        shown = json.loads(messages[sql_calls[0][0] + 1]["content"])
        why = sample["meta"]["near_miss_why"]
        assert ("error" in shown) == (why == ERRORS)
        assert (shown.get("rows") == []) == (why == EMPTY)
        assert messages[-1] == {"role": "assistant", "content": gold}


def test_the_near_miss_turn_is_shown_but_not_learned(built, tokenizer):
    from t2s_pipeline.modeling.tokenize import IGNORE_INDEX, tokenize_sample

    _, samples, _, _ = built
    repair = next(s for s in samples if s["meta"]["kind"] == "repair")
    learned = tokenize_sample(tokenizer, repair["messages"], repair["tools"])
    as_tool_call = tokenize_sample(tokenizer, [{k: v for k, v in m.items() if k != "train"} for m in repair["messages"]],
                                   repair["tools"])
    assert learned["input_ids"] == as_tool_call["input_ids"]
    text = tokenizer.decode([t for t, label in zip(learned["input_ids"], learned["labels"]) if label != IGNORE_INDEX])
    every = tokenizer.decode([t for t, label in zip(as_tool_call["input_ids"], as_tool_call["labels"])
                              if label != IGNORE_INDEX])
    near_miss = json.dumps(repair["meta"]["near_miss"])
    assert near_miss in every and near_miss not in text and repair["meta"]["gold_sql"] in text


def test_a_query_with_nothing_to_mutate_gives_no_near_miss(tmp_path):
    db = make_music_db(tmp_path / "m.sqlite")
    finder = NearMisses(seed=0)
    assert finder.find("SELECT 1", db, read_sqlite_schema(db, "music")) is None
    assert finder.stats()["why"] == {}


def test_check_style_repairs_show_the_single_turn_prompt_and_refuse_unknown_styles(tmp_path, built):
    _, samples, _, _ = built
    out = tmp_path / "check"
    build_trajectories(tmp_path / "pairs", tmp_path / "raw", out, tool_share=0.3, repair_share=0.6, seed=1,
                       tool_style="check")
    checked = [s for split in ("train", "dev", "test") for s in read_jsonl(out / f"{split}.jsonl")]
    prompts = {s["meta"]["id"]: s["messages"][1]["content"] for s in checked if s["meta"]["kind"] == "whole_query"}
    conversations = [s for s in checked if s["meta"]["kind"] in ("tool_call", "repair")]
    # The same pairs are drawn in either style; a check conversation's user turn is its single-turn prompt.
    assert len(conversations) == sum(s["meta"]["kind"] in ("tool_call", "repair") for s in samples) > 0
    assert all(s["messages"][1]["content"] == prompts[s["meta"]["id"]] for s in conversations)
    assert all(s["meta"]["tool_style"] == "check" for s in conversations)
    with pytest.raises(ValueError, match="tool_style must be one of"):
        build_trajectories(tmp_path / "pairs", tmp_path / "raw", tmp_path / "bad", tool_style="browse")
