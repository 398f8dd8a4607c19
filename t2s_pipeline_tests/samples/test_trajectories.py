"""build_trajectories: chat samples (system, user = schema then question, assistant = gold SQL), split by question."""

from __future__ import annotations

from collections import Counter

import pytest

from t2s_pipeline.records import make_example, read_json, read_jsonl, write_json, write_jsonl
from t2s_pipeline.samples.prompts import SYSTEM_PROMPT, prompt_messages, user_prompt
from t2s_pipeline.samples.trajectories import build_trajectories

SCHEMAS = {
    "shop": {"db_id": "shop", "tables": [
        {"name": "customer", "columns": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "TEXT"}],
         "primary_key": ["id"], "foreign_keys": []},
        {"name": "orders", "columns": [{"name": "id", "type": "INTEGER"}, {"name": "customer_id", "type": "INTEGER"},
                                       {"name": "amount", "type": "REAL"}],
         "primary_key": ["id"], "foreign_keys": [{"column": "customer_id", "ref_table": "customer", "ref_column": "id"}]},
    ]},
    "school": {"db_id": "school", "tables": [
        {"name": "enrolment", "columns": [{"name": "student", "type": "TEXT"}, {"name": "course", "type": "TEXT"},
                                          {"name": "grade", "type": "INTEGER"}],
         "primary_key": ["student", "course"], "foreign_keys": []},
    ]},
}
SHOP_SCHEMA_TEXT = (
    "CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT);\n"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), amount REAL);"
)
SCHOOL_SCHEMA_TEXT = "CREATE TABLE enrolment (student TEXT, course TEXT, grade INTEGER, PRIMARY KEY (student, course));"


def make_pairs() -> list[dict]:
    pairs = []
    for i in range(12):
        pair = make_example("mini", "train", i, "shop", f"  How many orders are above {i * 10}?  ",
                            f"SELECT count(*) FROM orders WHERE amount > {i * 10}", difficulty="easy")
        pairs.append(pair)
    for i in range(10):
        pair = make_example("mini", "dev", i, "school", f"Which students got grade {i}?",
                            f"SELECT student FROM enrolment WHERE grade = {i}",
                            evidence="grade is out of 10" if i == 0 else "", difficulty="medium")
        pairs.append(pair)
    for pair in pairs:
        pair.update({"pipe_sql": "FROM x |> SELECT y", "pipe_ops": ["FROM", "SELECT"],
                     "validation": "match", "ordered": False})
    return pairs


@pytest.fixture
def built(tmp_path):
    pairs_dir, raw_dir, out_dir = tmp_path / "pairs", tmp_path / "raw", tmp_path / "traj"
    for d in (pairs_dir, raw_dir, out_dir):
        d.mkdir()
    pairs = make_pairs()
    write_jsonl(pairs_dir / "pairs.jsonl", pairs)
    write_json(raw_dir / "schemas.json", SCHEMAS)
    stats = build_trajectories(pairs_dir, raw_dir, out_dir, seed=3)
    splits = {s: list(read_jsonl(out_dir / f"{s}.jsonl")) for s in ("train", "dev", "test")}
    return pairs, stats, splits, out_dir


def test_prompt_puts_schema_first_then_question_then_evidence():
    text = user_prompt("CREATE TABLE t (a INTEGER);", "How many?", "a counts")
    assert text == "Database schema:\nCREATE TABLE t (a INTEGER);\n\nQuestion: How many?\n\nEvidence: a counts"
    assert "Evidence" not in user_prompt("CREATE TABLE t (a INTEGER);", "How many?")
    messages = prompt_messages("S", "Q")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT


def test_writes_three_splits_of_chat_samples(built):
    pairs, _, splits, out_dir = built
    assert {p.name for p in out_dir.iterdir()} == {"train.jsonl", "dev.jsonl", "test.jsonl", "stats.json"}
    by_id = {p["id"]: p for p in pairs}
    for split, samples in splits.items():
        for sample in samples:
            assert set(sample) >= {"messages", "meta"}
            assert [m["role"] for m in sample["messages"]] == ["system", "user", "assistant"]
            meta = sample["meta"]
            pair = by_id[meta["id"]]
            assert meta["db_id"] == pair["db_id"]
            assert meta["kind"] == "whole_query"
            assert meta["gold_sql"] == pair["gold_sql"]
            assert sample["messages"][0]["content"] == SYSTEM_PROMPT
            assert sample["messages"][2]["content"] == pair["gold_sql"]


def test_user_turn_is_schema_then_question(built):
    pairs, _, splits, _ = built
    by_id = {p["id"]: p for p in pairs}
    samples = [s for rows in splits.values() for s in rows]
    for sample in samples:
        user = sample["messages"][1]["content"]
        pair = by_id[sample["meta"]["id"]]
        schema = SHOP_SCHEMA_TEXT if pair["db_id"] == "shop" else SCHOOL_SCHEMA_TEXT
        assert user.startswith("Database schema:\n" + schema + "\n\n")
        assert user.index("CREATE TABLE") < user.index("Question: ")
        assert f"Question: {pair['question']}" in user
        assert pair["question"] == pair["question"].strip()
        if pair["evidence"]:
            assert user.endswith(f"Evidence: {pair['evidence']}")
    assert any("REFERENCES customer(id)" in s["messages"][1]["content"] for s in samples)
    assert any("PRIMARY KEY (student, course)" in s["messages"][1]["content"] for s in samples)


def test_no_question_in_two_splits_and_none_lost(built):
    pairs, _, splits, _ = built
    ids = {split: [s["meta"]["id"] for s in rows] for split, rows in splits.items()}
    all_ids = [i for rows in ids.values() for i in rows]
    assert Counter(all_ids) == Counter(p["id"] for p in pairs)
    assert not set(ids["train"]) & set(ids["dev"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["dev"]) & set(ids["test"])
    # Both databases have >= 10 questions, so both appear in test.
    assert {s["meta"]["db_id"] for s in splits["test"]} == {"shop", "school"}


def test_stats_reconcile_with_pairs(built):
    pairs, stats, splits, out_dir = built
    on_disk = read_json(out_dir / "stats.json")
    assert on_disk["samples"] == stats["samples"]
    assert stats["pairs"] == len(pairs)
    assert stats["samples"] == {split: len(rows) for split, rows in splits.items()}
    assert sum(stats["samples"].values()) == len(pairs)
    assert stats["questions"] == {split: len({s["meta"]["id"] for s in rows}) for split, rows in splits.items()}
    assert stats["kinds"] == {"whole_query": len(pairs)}
    assert stats["kinds_by_split"] == {split: {"whole_query": len(rows)} for split, rows in splits.items() if rows}
    assert stats["target"] == "sql" and stats["operators"] == {} and stats["tool_samples"] == 0
    assert stats["seed"] == 3


def test_default_samples_keep_exactly_the_whole_query_format(built):
    _, _, splits, _ = built
    for sample in (s for rows in splits.values() for s in rows):
        assert set(sample) == {"messages", "meta"}
        assert set(sample["meta"]) == {"id", "db_id", "benchmark", "difficulty", "gold_sql", "kind", "step", "steps"}
        assert (sample["meta"]["kind"], sample["meta"]["step"], sample["meta"]["steps"]) == ("whole_query", 1, 1)


def _build(tmp_path, pairs, name, **kwargs):
    pairs_dir, raw_dir, out_dir = tmp_path / f"pairs_{name}", tmp_path / f"raw_{name}", tmp_path / f"traj_{name}"
    pairs_dir.mkdir()
    raw_dir.mkdir()
    write_jsonl(pairs_dir / "pairs.jsonl", pairs)
    write_json(raw_dir / "schemas.json", SCHEMAS)
    stats = build_trajectories(pairs_dir, raw_dir, out_dir, seed=3, **kwargs)
    return stats, {s: list(read_jsonl(out_dir / f"{s}.jsonl")) for s in ("train", "dev", "test")}


@pytest.mark.parametrize("target", ["pipe", "both"])
def test_pipe_targets_give_one_sample_per_operator_plus_the_whole_query(tmp_path, target):
    pairs = make_pairs()
    pairs[0].update(validation="pipe_mismatch", pipe_sql=None, pipe_ops=None)  # a pair the rewrite missed
    for pair in pairs[1:]:
        pair["pipe_sql"], pair["pipe_ops"] = "FROM orders\n|> WHERE amount > 1\n|> SELECT id", ["FROM", "WHERE", "SELECT"]
    stats, splits = _build(tmp_path, pairs, target, target=target)
    kinds = Counter(s["meta"]["kind"] for rows in splits.values() for s in rows)
    sql = len(pairs) if target == "both" else 0
    assert kinds == {"pipe_step": 3 * 21, "pipe_whole_query": 21, **({"whole_query": sql} if sql else {})}
    assert stats["kinds"] == dict(kinds) and stats["pairs_without_pipe"] == 1 and stats["target"] == target
    assert stats["operators"] == {"FROM": 21, "WHERE": 21, "SELECT": 21}
    assert stats["kinds_by_split"] == {s: dict(Counter(x["meta"]["kind"] for x in rows)) for s, rows in splits.items()}
    # Every sample of a question lands in its question's split.
    split_of = {}
    for split, rows in splits.items():
        for sample in rows:
            assert split_of.setdefault(sample["meta"]["id"], split) == split
    steps = sorted((s for rows in splits.values() for s in rows if s["meta"]["id"] == "mini/train/5"
                    and s["meta"]["kind"] == "pipe_step"), key=lambda s: s["meta"]["step"])
    assert [s["messages"][2]["content"] for s in steps] == ["FROM orders", "|> WHERE amount > 1", "|> SELECT id;"]


def test_tool_samples_for_a_share_of_pairs(tmp_path):
    from t2s_pipeline.sql.schema import read_sqlite_schema
    from t2s_pipeline_tests.sql.test_pipe import make_music_db

    pairs_dir, raw_dir, out_dir = tmp_path / "pairs", tmp_path / "raw", tmp_path / "traj"
    (raw_dir / "databases").mkdir(parents=True)
    pairs_dir.mkdir()
    db = make_music_db(raw_dir / "databases" / "music.sqlite")
    write_json(raw_dir / "schemas.json", {"music": read_sqlite_schema(db, "music")})
    pairs = [make_example("m", "dev", i, "music", f"How many singers are older than {i}?",
                          f"SELECT count(*) FROM singer WHERE age > {i}") for i in range(20)]
    for pair in pairs:
        pair.update(validation="match", ordered=False, pipe_ops=["FROM", "WHERE", "AGGREGATE"],
                    pipe_sql=pair["gold_sql"].replace("SELECT count(*) FROM singer WHERE", "FROM singer\n|> WHERE")
                    + "\n|> AGGREGATE COUNT(*) AS count_all")
    write_jsonl(pairs_dir / "pairs.jsonl", pairs)
    stats = build_trajectories(pairs_dir, raw_dir, out_dir, target="both", tool_share=1.0)
    tools = [s for split in ("train", "dev", "test") for s in read_jsonl(out_dir / f"{split}.jsonl")
             if s["meta"]["kind"] == "tool_call"]
    assert stats["tool_samples"] == len(tools) == 20 and stats["kinds"]["tool_call"] == 20
    by_id = {p["id"]: p for p in pairs}
    for sample in tools:
        pair = by_id[sample["meta"]["id"]]
        assert sample["messages"][-1] == {"role": "assistant", "content": pair["pipe_sql"]}
        assert [t["function"]["name"] for t in sample["tools"]][-1] == "execute_sql"
        age = int(pair["gold_sql"].rsplit(" ", 1)[1])
        expected = sum(a is not None and a > age for a in (31, 45, 27, 52, 38, None))
        assert f'"rows": [[{expected}]]' in sample["messages"][-2]["content"]


def test_a_bad_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match="target"):
        build_trajectories(tmp_path, tmp_path, tmp_path / "out", target="yaml")


def test_alpaca_format_and_cot_answers(tmp_path):
    pairs_dir, raw_dir = tmp_path / "pairs", tmp_path / "raw"
    pairs_dir.mkdir(), raw_dir.mkdir()
    pairs = make_pairs()
    pairs[0]["cot"] = "Count the orders whose amount is above 0."
    write_jsonl(pairs_dir / "pairs.jsonl", pairs)
    write_json(raw_dir / "schemas.json", SCHEMAS)
    stats = build_trajectories(pairs_dir, raw_dir, tmp_path / "out", prompt_format="alpaca", cot=True)
    samples = [s for split in ("train", "dev", "test") for s in read_jsonl(tmp_path / "out" / f"{split}.jsonl")]
    assert {s["format"] for s in samples} == {"alpaca"} and stats["prompt_format"] == "alpaca"
    with_cot = [s for s in samples if s["meta"].get("answer") == "cot"]
    assert len(with_cot) == stats["cot_answers"] == 1
    assert with_cot[0]["messages"][-1]["content"] == (
        "Count the orders whose amount is above 0.\n\n```sql\nSELECT count(*) FROM orders WHERE amount > 0\n```")


def test_alpaca_has_no_tool_calls(tmp_path):
    with pytest.raises(ValueError, match="tool_share needs prompt_format 'chat'"):
        build_trajectories(tmp_path, tmp_path, tmp_path / "out", prompt_format="alpaca", tool_share=0.5)


def test_paraphrases_of_one_query_stay_in_one_split_and_leakage_is_reported(tmp_path):
    pairs = []
    for k in range(20):  # 20 queries, each asked three ways
        for j, wording in enumerate(("How many orders above {}?", "Count the orders over {}.", "Orders above {}: how many?")):
            pairs.append(make_example("mini", "train", 3 * k + j, "shop", wording.format(k * 10),
                                      f"SELECT count(*) FROM orders WHERE amount > {k * 10}"))
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    write_json(tmp_path / "schemas.json", SCHEMAS)
    stats = build_trajectories(tmp_path, tmp_path, tmp_path / "traj", seed=0)
    split_of = {s["meta"]["id"]: split for split in ("train", "dev", "test")
                for s in read_jsonl(tmp_path / "traj" / f"{split}.jsonl")}
    for k in range(20):
        assert len({split_of[f"mini/train/{3 * k + j}"] for j in range(3)}) == 1
    train_sql = {s["meta"]["gold_sql"] for s in read_jsonl(tmp_path / "traj" / "train.jsonl")}
    held_out = [s for split in ("dev", "test") for s in read_jsonl(tmp_path / "traj" / f"{split}.jsonl")]
    assert held_out and not any(s["meta"]["gold_sql"] in train_sql for s in held_out)
    leakage = stats["leakage"]
    assert leakage["left"] == {s: {"question": 0, "sql": 0, "either": 0} for s in ("dev", "test")}
    assert leakage["removed"]["test"]["sql"] > 0  # a plain split by question would have leaked
    assert sum(leakage["questions"].values()) == sum(leakage["plain_split_questions"].values()) == 60
