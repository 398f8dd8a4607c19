"""The execution reward: 1 / 0.1 / 0, the format terms, several databases, and hostile completions
(writes, runaway recursive CTEs, several statements, ATTACH) scoring 0 within the time limit with every
database byte-identical, in this process and through the worker pool."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import pytest

from t2s_pipeline.training.reward import (
    BAD_FORMAT, COT, PIPE, ExecutionReward, RewardConfig, judge_on_databases, reads_as_pipe, score_one,
)

GOLD = "SELECT name FROM singer WHERE age > 30"
LIMIT = 0.5


def make_db(path, rows):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return str(path)


@pytest.fixture
def dbs(tmp_path):
    first = make_db(tmp_path / "a.sqlite", [(1, "Ann", 25), (2, "Bob", 41), (3, "Cid", 35)])
    # A variant where `age > 30` and `age >= 35` differ (the first database cannot tell them apart).
    second = make_db(tmp_path / "b.sqlite", [(1, "Ann", 31), (2, "Bob", 41), (3, "Cid", 35)])
    return [first, second]


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_correct_executes_and_failed_score_one_tenth_and_zero(dbs):
    cfg = RewardConfig()
    assert score_one(GOLD, GOLD, dbs[:1], cfg=cfg)["reward"] == 1.0
    assert score_one("SELECT name FROM singer", GOLD, dbs[:1], cfg=cfg)["reward"] == 0.1
    assert score_one("SELECT nope FROM singer", GOLD, dbs[:1], cfg=cfg)["reward"] == 0.0
    assert score_one("The answer is Bob.", GOLD, dbs[:1], cfg=cfg)["reward"] == 0.0
    assert score_one("", GOLD, dbs[:1], cfg=cfg)["reward"] == 0.0
    # Weights are configurable.
    assert score_one("SELECT name FROM singer", GOLD, dbs[:1], cfg=RewardConfig(executes=0.3))["reward"] == 0.3


def test_correct_means_equal_on_every_database(dbs):
    lookalike = "SELECT name FROM singer WHERE age >= 35"
    assert judge_on_databases(lookalike, GOLD, dbs[:1])["correct"] is True
    verdict = judge_on_databases(lookalike, GOLD, dbs)
    assert verdict["correct"] is False and verdict["executes"] is True
    assert verdict["reason"] == "wrong_result" and verdict["error"]
    assert score_one(lookalike, GOLD, dbs)["reward"] == 0.1
    assert score_one(GOLD, GOLD, dbs)["reward"] == 1.0


def test_pipe_target_must_read_back_as_pipe_sql(dbs):
    pipe = "FROM singer |> WHERE age > 30 |> SELECT name"
    assert reads_as_pipe(pipe)
    assert score_one(pipe, GOLD, dbs[:1], PIPE)["reward"] == 1.0
    plain = score_one(GOLD, GOLD, dbs[:1], PIPE)
    assert plain["reward"] == 0.0 and plain["reason"] == BAD_FORMAT
    assert score_one("FROM singer |> WHERE age >", GOLD, dbs[:1], PIPE)["reason"] == BAD_FORMAT
    # Without the gate a right answer in the wrong format still counts; the bonus rewards the format.
    assert score_one(GOLD, GOLD, dbs[:1], PIPE, cfg=RewardConfig(format_gate=False))["reward"] == 1.0
    assert score_one(pipe, GOLD, dbs[:1], PIPE, cfg=RewardConfig(format_bonus=0.2))["reward"] == pytest.approx(1.2)


def test_chain_of_thought_needs_a_sql_block(dbs):
    good = f"Singers older than 30: filter on age.\n\n```sql\n{GOLD}\n```"
    assert score_one(good, GOLD, dbs[:1], COT)["reward"] == 1.0
    assert score_one(f"Filter on age. {GOLD}", GOLD, dbs[:1], COT)["reason"] == BAD_FORMAT


HOSTILE = {
    "delete": "DELETE FROM singer",
    "update": "UPDATE singer SET age = 0",
    "insert": "INSERT INTO singer VALUES (9, 'Eve', 50)",
    "drop": "DROP TABLE singer",
    "create": "CREATE TABLE t (x)",
    "two statements": "SELECT name FROM singer WHERE age > 30; DELETE FROM singer",
    "select then drop": "SELECT 1; DROP TABLE singer;",
    "attach": "ATTACH DATABASE '{other}' AS other",
    "attach in a block": "```sql\nATTACH DATABASE ':memory:' AS m\n```",
    "pragma write": "PRAGMA journal_mode = DELETE",
    "runaway cte": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "runaway string": "WITH RECURSIVE s(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM s) SELECT length(x) FROM s",
    "load extension": "SELECT load_extension('/tmp/evil.so')",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_completions_score_zero_in_time_and_leave_the_databases_unchanged(dbs, tmp_path, workers):
    other = make_db(tmp_path / "other.sqlite", [(1, "Zed", 99)])
    before = {p: digest(p) for p in [*dbs, other]}
    texts = [sql.format(other=other) for sql in HOSTILE.values()]
    reward = ExecutionReward(RewardConfig(timeout_s=LIMIT, workers=workers))
    try:
        start = time.monotonic()
        scores = reward(prompts=[None] * len(texts), completions=[[{"role": "assistant", "content": t}] for t in texts],
                        gold_sql=[GOLD] * len(texts), databases=[dbs] * len(texts))
        elapsed = time.monotonic() - start
    finally:
        reward.close()
    assert dict(zip(HOSTILE, scores)) == {name: 0.0 for name in HOSTILE}
    assert all(not s["executes"] for s in reward.last)
    # Two runaway queries at most LIMIT each (on each of two databases at worst), plus pool start-up.
    assert elapsed < 4 * LIMIT + 3.0
    assert {p: digest(p) for p in before} == before


def test_batch_rewards_equal_single_calls_and_follow_the_input_order(dbs):
    texts = [GOLD, "SELECT name FROM singer", "DELETE FROM singer", "SELECT name FROM singer WHERE age >= 35"]
    reward = ExecutionReward(RewardConfig(workers=2))
    try:
        batch = reward(prompts=[None] * 4, completions=texts, gold_sql=[GOLD] * 4, databases=[dbs] * 4)
    finally:
        reward.close()
    assert batch == [score_one(t, GOLD, dbs)["reward"] for t in texts] == [1.0, 0.1, 0.0, 0.1]


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="timeout_s"):
        RewardConfig(timeout_s=0)
    with pytest.raises(ValueError, match="correct > executes"):
        RewardConfig(correct=0.1, executes=0.5)
    with pytest.raises(ValueError, match="unknown reward config key.*colour"):
        RewardConfig.from_dict({"colour": 1})


def test_a_think_block_is_stripped_before_the_answer_is_read():
    from t2s_pipeline.training.reward import answer_sql

    thinking = "<think>\nMaybe ```sql\nSELECT 2\n``` or not.\n</think>\n\n"
    assert answer_sql(thinking + "SELECT 1") == ("SELECT 1", True)
    assert answer_sql(thinking + "Count them.\n```sql\nSELECT 1\n```", "cot") == ("SELECT 1", True)
