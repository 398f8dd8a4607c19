"""The whole chain, materialized on the embedded default as `make demo` runs it, with fewer training steps
(the demo's own figures are measured by `make demo` and written in the README)."""

import json

import dagster as dg
import pytest

from t2s_pipeline.definitions import defs
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.storage import current_version_path


FEWER_STEPS = {"ops": {"base_model": {"config": {"tiny_pretrain_steps": 600}},
                       "lora_adapter": {"config": {"max_steps": 300}},
                       "rl_adapter": {"config": {"max_steps": 10}}}}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2S_STORAGE", str(storage))
        result = defs.resolve_job_def("full_chain").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), run_config=FEWER_STEPS)
    return result, storage


@pytest.mark.slow
def test_fine_tuned_model_beats_the_base_model(chain):
    result, storage = chain
    assert result.success
    report = json.loads((current_version_path(storage, "eval_report") / "report.json").read_text())
    base, tuned = report["base"]["execution_accuracy"], report["fine_tuned"]["execution_accuracy"]
    rl = report["rl"]["execution_accuracy"]
    print(f"\nexecution accuracy on {report['questions']} held-out questions: base {base:.3f}, fine-tuned {tuned:.3f}"
          f" (unseen SQL: {report['fine_tuned']['execution_accuracy_unseen_sql']}), RL {rl:.3f}")
    assert tuned > base


@pytest.mark.slow
def test_the_adapter_with_the_best_execution_accuracy_is_merged(chain):
    # Whether RL beats its SFT start is measured by `make demo` (README); here the choice must follow the scores.
    _, storage = chain
    report = json.loads((current_version_path(storage, "eval_report") / "report.json").read_text())
    rl, sft = report["rl"]["execution_accuracy"], report["fine_tuned"]["execution_accuracy"]
    assert report["best_adapter"] == ("rl" if rl > sft else "fine_tuned")
    merged_from = json.loads((current_version_path(storage, "merged_model") / "merged_from.json").read_text())
    assert merged_from["adapter"] == ("rl_adapter" if rl > sft else "lora_adapter")


@pytest.mark.slow
def test_every_asset_is_stored_and_checks_pass(chain):
    result, storage = chain
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert current_version_path(storage, key.to_user_string()) is not None, key
    evaluations = result.get_asset_check_evaluations()
    expected = {check.name for check in defs.resolve_asset_graph().asset_check_keys}
    assert {e.check_name for e in evaluations} == expected
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]


@pytest.mark.slow
def test_no_question_is_in_two_splits(chain):
    _, storage = chain
    folder = current_version_path(storage, "trajectories")
    ids = {split: {s["meta"]["id"] for s in read_jsonl(folder / f"{split}.jsonl")} for split in ("train", "dev", "test")}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["dev"] and not ids["dev"] & ids["test"]
    assert len(ids["test"]) >= 50


@pytest.mark.slow
def test_merged_model_loads_without_peft(chain):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, storage = chain
    folder = current_version_path(storage, "merged_model")
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert tokenizer.eos_token == "<|im_end|>"
