"""The RL prompts: one per question of the split (train unless asked), with the gold, the databases and the
format the reward checks."""

from __future__ import annotations

import json

from t2s_pipeline.records import write_jsonl
from t2s_pipeline.training.reward import COT, PIPE, SQL
import pytest

from t2s_pipeline.training.rl_prompts import hardest_prompts, mixed_prompts, rl_prompts
from t2s_pipeline_tests.training import tiny


def test_one_prompt_per_train_question_without_the_answer(trajectories_dir, tmp_path):
    rows = rl_prompts(trajectories_dir, tmp_path)
    assert len(rows) == len(tiny.split_samples()["train"]) == len({r["id"] for r in rows})
    row = rows[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["gold_sql"] == tiny.QUESTIONS[0][1]
    assert row["databases"] == [str(tmp_path / "databases" / "music.sqlite")]
    assert row["answer_format"] == SQL
    assert row["question"] == row["prompt"][-1]["content"].rsplit("Question: ", 1)[-1] != ""
    assert row["messages"] == tiny.split_samples()["train"][0]["messages"]  # with the answer: hardest_prompts scores it


def test_the_dev_split_gives_its_own_questions_and_none_of_train(trajectories_dir, tmp_path):
    rows = rl_prompts(trajectories_dir, tmp_path, "dev")
    dev = tiny.split_samples()["dev"]
    assert [r["id"] for r in rows] == [s["meta"]["id"] for s in dev]
    assert [r["gold_sql"] for r in rows] == [s["meta"]["gold_sql"] for s in dev]


def test_repeated_questions_count_once_and_a_cap_draws(tmp_path):
    samples = tiny.split_samples()["train"]
    write_jsonl(tmp_path / "train.jsonl", samples + samples[:3])
    assert len(rl_prompts(tmp_path, tmp_path)) == len(samples)
    capped = rl_prompts(tmp_path, tmp_path, max_prompts=3, seed=1)
    assert len(capped) == 3 and capped == rl_prompts(tmp_path, tmp_path, max_prompts=3, seed=1)


def test_suite_variants_judge_the_reward_except_where_the_gold_cannot_run(tmp_path):
    samples = tiny.split_samples()["train"][:2]
    write_jsonl(tmp_path / "train.jsonl", samples)
    first, second = (s["meta"]["gold_sql"] for s in samples)
    suite = tmp_path / "suite" / "music"
    suite.mkdir(parents=True)
    # As test_suites writes it: v2 is left out for the second gold query (it errors or ties there).
    (suite / "report.json").write_text(json.dumps({
        "judged_gold": [first, second],
        "variants": [{"file": "v1.sqlite"}, {"file": "v2.sqlite", "skipped_gold": [second]}]}))
    rows = {r["gold_sql"]: r["databases"] for r in rl_prompts(tmp_path, tmp_path, suite_dir=tmp_path / "suite")}
    original = str(tmp_path / "databases" / "music.sqlite")
    assert rows[first] == [original, str(suite / "v1.sqlite"), str(suite / "v2.sqlite")]
    assert rows[second] == [original, str(suite / "v1.sqlite")]


def test_pipe_and_chain_of_thought_samples_ask_for_their_format(tmp_path):
    pipe = tiny.sample(0, "train")
    pipe["meta"]["kind"] = "pipe_whole_query"
    cot = tiny.sample(1, "train")
    cot["meta"]["answer"] = "cot"
    write_jsonl(tmp_path / "train.jsonl", [pipe])
    assert rl_prompts(tmp_path, tmp_path)[0]["answer_format"] == PIPE
    write_jsonl(tmp_path / "train.jsonl", [cot])
    assert rl_prompts(tmp_path, tmp_path)[0]["answer_format"] == COT


def test_literal_swapped_prompts_state_new_literals_that_decide_the_result(tmp_path):
    import sqlite3

    (tmp_path / "databases").mkdir()
    with sqlite3.connect(tmp_path / "databases" / "music.sqlite") as db:
        db.execute(tiny.SCHEMA.rstrip(";"))
        db.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(i, f"S{i}", 10 + i, f"C{i % 7}") for i in range(90)])
    older = tiny.sample(2, "train")  # "Which singers are older than 30?": the number is stated, so it swaps
    plain = tiny.sample(1, "train")  # no literal: no copy
    write_jsonl(tmp_path / "train.jsonl", [older, plain])
    rows = rl_prompts(tmp_path, tmp_path, literal_variants=3)
    swapped = [r for r in rows if "/swap" in r["id"]]
    assert 1 <= len(swapped) <= 3 and all(r["id"].startswith(older["meta"]["id"]) for r in swapped)
    for row in swapped:
        question = row["prompt"][-1]["content"].rpartition("Question: ")[2]
        number = question.removeprefix("Which singers are older than ").removesuffix("?")
        assert number.isdigit() and number != "30"
        assert row["gold_sql"] == f"SELECT name FROM singer WHERE age > {number}"
        assert row["prompt"][-1]["content"].startswith("Database schema:")
        assert row["databases"] == [str(tmp_path / "databases" / "music.sqlite")]


def test_a_swap_whose_result_the_literal_does_not_decide_is_left_out(tmp_path):
    import sqlite3

    (tmp_path / "databases").mkdir()
    with sqlite3.connect(tmp_path / "databases" / "music.sqlite") as db:  # every age under 30: any swap is empty
        db.execute(tiny.SCHEMA.rstrip(";"))
        db.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(i, f"S{i}", 5, "X") for i in range(5)])
    write_jsonl(tmp_path / "train.jsonl", [tiny.sample(2, "train")])
    assert [r["id"] for r in rl_prompts(tmp_path, tmp_path, literal_variants=5)] == ["mini/train/2"]


def test_a_swap_that_writes_a_held_out_question_is_left_out(tmp_path):
    import sqlite3

    (tmp_path / "databases").mkdir()
    with sqlite3.connect(tmp_path / "databases" / "music.sqlite") as db:
        db.execute(tiny.SCHEMA.rstrip(";"))
        db.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(i, f"S{i}", 10 + i, "X") for i in range(90)])
    train = tiny.sample(2, "train")
    write_jsonl(tmp_path / "train.jsonl", [train])
    swapped = {r["gold_sql"] for r in rl_prompts(tmp_path, tmp_path, literal_variants=5)} - {train["meta"]["gold_sql"]}
    assert swapped
    held = tiny.sample(2, "test")  # a test question with one of those queries
    held["meta"]["gold_sql"] = held["messages"][-1]["content"] = sorted(swapped)[0]
    write_jsonl(tmp_path / "test.jsonl", [held])
    again = {r["gold_sql"] for r in rl_prompts(tmp_path, tmp_path, literal_variants=5)}
    assert sorted(swapped)[0] not in again


def test_the_hardest_prompts_are_those_of_highest_summed_loss(trajectories_dir, tmp_path):
    rows = rl_prompts(trajectories_dir, tmp_path)[:4]
    # (summed loss, tokens): the per-token means would rank the short answer (index 1) first
    losses = [(2.0, 20), (1.5, 2), (6.0, 30), (0.1, 10)]
    assert [r["id"] for r in hardest_prompts(rows, losses, 2)] == [rows[2]["id"], rows[0]["id"]]
    with pytest.raises(ValueError, match="3 losses for 4 prompts"):
        hardest_prompts(rows, losses[:3], 2)


def test_only_prompts_whose_group_was_partly_right_are_mixed():
    rows = [{"id": "all right"}, {"id": "some"}, {"id": "all wrong"}, {"id": "one"}]
    groups = [[True, True], [True, False], [False, False], [False, True]]
    assert [r["id"] for r in mixed_prompts(rows, groups)] == ["some", "one"]
    with pytest.raises(ValueError, match="3 groups for 4 prompts"):
        mixed_prompts(rows, groups[:3])
