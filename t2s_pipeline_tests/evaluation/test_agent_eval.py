"""eval_report's agent: each model scored as an agent beside its single-turn figure, conversations kept."""

from __future__ import annotations

import json
import shutil

import pytest

from t2s_pipeline.evaluation.agent_eval import AgentSettings, agent_questions
from t2s_pipeline.evaluation.report import evaluate
from t2s_pipeline.records import write_json, write_jsonl
from t2s_pipeline_tests.training import tiny


@pytest.fixture
def trained_questions(tmp_path):
    """Trajectories whose test questions are two the tool model was trained on (its conversations answer them)."""
    folder = tmp_path / "trajectories"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [tiny.sample(i, "train") for i in range(2, 10)])
    write_jsonl(folder / "dev.jsonl", [tiny.sample(10, "dev")])
    write_jsonl(folder / "test.jsonl", [tiny.sample(i, "test") for i in (0, 1)])
    return folder


@pytest.fixture
def music_raw(tmp_path, tool_model):
    _, db, schema = tool_model
    raw = tmp_path / "raw"
    (raw / "databases").mkdir(parents=True)
    shutil.copy(db, raw / "databases" / "music.sqlite")
    write_json(raw / "schemas.json", {"music": schema})
    return raw


def test_every_model_is_scored_as_an_agent_beside_its_single_turn_figure(tmp_path, tiny_base_dir, tool_model,
                                                                         trained_questions, music_raw):
    model_dir, _, _ = tool_model
    out = tmp_path / "report"
    settings = AgentSettings(max_turns=6, max_new_tokens=64, batch_size=4)
    report = evaluate(tiny_base_dir, model_dir, trained_questions, music_raw, out, max_new_tokens=16, plots=False,
                      log=lambda m: None, agent=settings)
    agent = report["agent"]
    assert agent["settings"]["mode"] == "tools" and agent["settings"]["max_turns"] == 6
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * report["questions"] == 4
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    for name in ("base", "fine_tuned"):
        a, mine = agent[name], [r for r in rows if r["model"] == name]
        single = [p for p in predictions if p["model"] == name]
        assert a["execution_accuracy"] == sum(r["ex"] for r in mine) / len(mine)
        assert a["single_turn_execution_accuracy"] == report[name]["execution_accuracy"]
        assert [r["single_turn_ex"] for r in mine] == [p["ex"] for p in single]
        assert sum(a["statuses"].values()) == len(mine)
        assert a["statuses"]["success"] == sum(r["status"] == "success" for r in mine)
        assert a["turns_per_question"] == sum(r["turns"] for r in mine) / len(mine)
        assert a["tool_calls_per_question"] == sum(r["tool_calls"] for r in mine) / len(mine)
        assert a["repairs"] == sum(r["first_ex"] is False and r["ex"] for r in mine)
        assert a["vs_single_turn"]["fixed"] == sum(r["ex"] and not r["single_turn_ex"] for r in mine)
        assert a["vs_single_turn"]["broken"] == sum(r["single_turn_ex"] and not r["ex"] for r in mine)
        assert all(r["messages"][1]["content"].startswith("Question: ") for r in mine)
    tuned = agent["fine_tuned"]  # the tool-trained model on questions it was trained on: 4 calls, then the gold
    assert (tuned["execution_accuracy"], tuned["tool_calls_per_question"], tuned["turns_per_question"]) == (1.0, 4, 5)
    assert tuned["vs_single_turn"]["fixed"] == 2 - sum(p["ex"] for p in predictions if p["model"] == "fine_tuned")
    assert "## As an agent" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["agent"] == agent


def test_agent_questions_carry_the_question_evidence_and_schema(trajectories_dir, music_raw):
    from t2s_pipeline.evaluation.report import load_test_samples

    samples = load_test_samples(trajectories_dir)
    samples[0]["messages"][-2]["content"] += "\n\nEvidence: age is in years"
    questions = agent_questions(samples, music_raw)
    assert questions[0].question == "Name the youngest singer." and questions[0].evidence == "age is in years"
    assert questions[0].db_path.endswith("databases/music.sqlite") and questions[0].schema["tables"][0]["name"] == "singer"
    assert questions[0].schema_text == ""  # style explore: the tools show the schema
    # Style check: the agent's prompt is the test sample's own single-turn prompt, schema first.
    from t2s_pipeline.samples.tools import tool_prompt_messages

    [checked] = agent_questions(samples[:1], music_raw, "check")
    user = tool_prompt_messages(checked.question, checked.evidence, checked.schema_text)[1]["content"]
    assert user == samples[0]["messages"][-2]["content"] and checked.schema_text.startswith("CREATE TABLE")


def test_the_trained_tool_style_is_read_from_trajectories(tmp_path, trajectories_dir):
    from t2s_pipeline.evaluation.agent_eval import trained_tool_style

    assert trained_tool_style(tmp_path) == "explore"  # no stats.json
    write_json(tmp_path / "stats.json", {"tool_style": "check"})
    assert trained_tool_style(tmp_path) == "check"


def test_bad_agent_settings_are_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        AgentSettings(mode="chat")
    assert AgentSettings(mode="incremental").mode == "incremental"
    with pytest.raises(ValueError, match="positive"):
        AgentSettings(max_turns=0)


def test_the_incremental_mode_writes_one_operator_a_turn(tmp_path, tiny_base_dir, tool_model, trained_questions,
                                                         music_raw):
    model_dir, _, _ = tool_model
    out = tmp_path / "report"
    report = evaluate(tiny_base_dir, model_dir, trained_questions, music_raw, out, max_new_tokens=8, plots=False,
                      log=lambda m: None, agent=AgentSettings(mode="incremental", max_turns=3, max_new_tokens=8))
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    assert report["agent"]["settings"]["mode"] == "incremental" and len(rows) == 4
    for r in rows:
        assert r["messages"][0]["content"].startswith("You write a SQLite query in pipe syntax")
        assert "Query so far:\n(empty)" in r["messages"][1]["content"] and r["first_sql"] is None
        assert 1 <= r["turns"] <= 3 and r["tool_calls"] == sum(m["role"] == "tool" for m in r["messages"])
