"""The whole chain with the tiny encoder-decoder (base_model: {model: tiny-t5}, preset tiny-t5) on the embedded
benchmark: the fine-tuned T5 answers at least 30% of the held-out questions (test-suite judge), the model kept is
the best by execution accuracy on dev, and record F1 is reported (the seed's protocol)."""

import json

import dagster as dg
import pytest

from t2s_pipeline.definitions import defs
from t2s_pipeline.resources.storage import current_version_path

# The demo's settings (cli/demo.py DEMO_MODELS['tiny-t5']). With 600 pretraining steps instead of 1,000 it scored
# 0.401 on one thread but 0.236 on two (make test on a fresh clone; other float sums, another selected step):
# the 1,000 of the demo, about a minute more.
RUN_CONFIG = {"ops": {"base_model": {"config": {"model": "tiny-t5"}},
                      "lora_adapter": {"config": {"preset": "tiny-t5"}},
                      "rl_adapter": {"config": {"enabled": False}},  # GRPO trains decoder-only models
                      "eval_report": {"config": {"num_beams": 1}}}}


@pytest.mark.slow
def test_fine_tuned_tiny_t5_answers_held_out_questions(tmp_path, monkeypatch):
    monkeypatch.setenv("T2S_STORAGE", str(tmp_path))
    result = defs.resolve_job_def("full_chain").execute_in_process(run_config=RUN_CONFIG,
                                                                    instance=dg.DagsterInstance.ephemeral())
    assert result.success
    tokenized = json.loads((current_version_path(tmp_path, "tokenized_splits") / "stats.json").read_text())
    assert tokenized["architecture"] == "encoder-decoder"
    report = json.loads((current_version_path(tmp_path, "eval_report") / "report.json").read_text())
    base, tuned = report["base"]["execution_accuracy"], report["fine_tuned"]["execution_accuracy"]
    print(f"\ntiny T5 on {report['questions']} held-out questions ({report['settings']['decoding']}): "
          f"EX base {base:.3f}, fine-tuned {tuned:.3f} on the test suite "
          f"({report['fine_tuned']['execution_accuracy_original_db']:.3f} on the original database), EM "
          f"{report['fine_tuned']['exact_match']:.3f}, record F1 {report['fine_tuned']['record_f1']:.3f}")
    assert report["architecture"] == "encoder-decoder" and report["suite"] is not None
    assert report["settings"]["num_beams"] == 1 and report["settings"]["constraint"] == "rules"
    assert report["questions"] == 182 and tuned >= 0.30 and tuned > base
    assert report["fine_tuned"]["record_f1"] > 0
    # Selection: execution accuracy and record F1 on dev every 250 steps; the result is the best step's model.
    selection = json.loads((current_version_path(tmp_path, "lora_adapter") / "selection.json").read_text())
    scored = [e for e in selection["history"] if "execution_accuracy" in e]
    assert [e["step"] for e in scored] == [250, 500, 750, 1000] and all("record_f1" in e for e in scored)
    best = max(e["execution_accuracy"] for e in scored)
    assert selection["result_step"] == next(e["step"] for e in scored if e["execution_accuracy"] == best)
    merged = current_version_path(tmp_path, "merged_model")
    assert json.loads((merged / "config.json").read_text())["is_encoder_decoder"] is True
