"""A BIRD-format folder through the chain's core: evidence reaches the prompt, difficulty the eval breakdown."""

from __future__ import annotations

from t2s_pipeline.benchmarks.bird import load_bird
from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.evaluation.report import evaluate
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.samples.trajectories import build_trajectories
from t2s_pipeline.sql.golden import build_golden_pairs
from t2s_pipeline_tests.benchmarks.test_bird import write_bird_folder

RECORDS = [
    {"db_id": "music", "question": "How many singers are older than 40?", "evidence": "older refers to age > 40",
     "SQL": "SELECT count(*) FROM singer WHERE age > 40", "difficulty": "simple"},
    {"db_id": "music", "question": "Name the oldest singer.", "evidence": "oldest refers to MAX(age)",
     "SQL": "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "difficulty": "moderate"},
    {"db_id": "music", "question": "List the singers.", "evidence": "",
     "SQL": "SELECT name FROM singer", "difficulty": "challenging"},
]


def test_bird_evidence_is_in_the_prompt_and_difficulty_in_the_report(tmp_path, tiny_base_dir, lora_adapter_dir):
    root = write_bird_folder(tmp_path / "bird", "dev", RECORDS)
    write_raw_benchmarks([load_bird(root)], tmp_path / "raw")
    build_golden_pairs(tmp_path / "raw", tmp_path / "pairs", workers=1)
    build_trajectories(tmp_path / "pairs", tmp_path / "raw", tmp_path / "traj",
                       fractions={"train": 0.0, "dev": 0.0, "test": 1.0})
    test = {s["meta"]["id"]: s for s in read_jsonl(tmp_path / "traj" / "test.jsonl")}
    assert len(test) == 3
    assert test["bird/dev/0"]["messages"][1]["content"].endswith("Evidence: older refers to age > 40")
    assert "Evidence:" not in test["bird/dev/2"]["messages"][1]["content"]

    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", tmp_path / "traj", tmp_path / "raw",
                      tmp_path / "report", max_new_tokens=4, log=lambda m: None, plots=False)
    assert set(report["fine_tuned"]["by_difficulty"]) == {"simple", "moderate", "challenging"}
    assert set(report["fine_tuned"]["by_benchmark"]) == {"bird"}
