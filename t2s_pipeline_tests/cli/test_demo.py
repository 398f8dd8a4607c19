"""`t2s demo --model`: each embedded model's run config is one the full chain accepts, and what the summary prints."""

import argparse

import dagster as dg
import pytest

from t2s_pipeline.cli.demo import DEMO_MODELS, add_parser, demo_run_config, print_summary
from t2s_pipeline.definitions import defs


@pytest.mark.parametrize("model", list(DEMO_MODELS))
def test_each_demo_run_config_is_valid_for_the_full_chain(model):
    job = defs.resolve_job_def("full_chain")
    for verbose in (False, True):
        config = demo_run_config(model, verbose)
        assert dg.validate_run_config(job, {k: v for k, v in config.items() if k != "loggers"})
        assert ("loggers" in config) is not verbose


def test_the_t5_demo_builds_the_tiny_t5_with_its_preset_and_no_rl():
    ops = demo_run_config("tiny-t5", verbose=True)["ops"]
    assert ops["base_model"]["config"]["model"] == "tiny-t5"
    assert ops["lora_adapter"]["config"]["preset"] == "tiny-t5"
    assert ops["rl_adapter"]["config"]["enabled"] is False



def test_the_default_demo_trains_tool_and_repair_conversations_and_evaluates_the_agent():
    ops = demo_run_config("tiny", verbose=True)["ops"]
    assert ops["trajectories"]["config"]["tool_share"] > 0 and ops["trajectories"]["config"]["repair_share"] > 0
    assert ops["eval_report"]["config"]["agent"]["enabled"] is True
    assert ops["tokenized_splits"]["config"]["max_length"] >= 2048  # a repair conversation fits


def test_the_model_flag_defaults_to_tiny_and_refuses_others():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    assert parser.parse_args(["demo"]).model == "tiny"
    assert parser.parse_args(["demo", "--model", "tiny-t5"]).model == "tiny-t5"
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--model", "t5-small"])
    with pytest.raises(ValueError, match="no demo for model 't5-small'"):
        demo_run_config("t5-small", verbose=True)


def _figures(ex: float) -> dict:
    return {"execution_accuracy": ex, "execution_accuracy_original_db": ex, "caught_by_suite": 0,
            "execution_accuracy_unseen_sql": ex, "exact_match": ex / 2, "loss": 1.5, "record_f1": ex + 0.1}


def test_the_t5_summary_has_the_default_lines_and_one_more_with_record_f1(capsys):
    report = {"questions": 182, "architecture": "encoder-decoder", "settings": {"num_beams": 5, "constraint": "rules"},
              "base": _figures(0.0), "fine_tuned": _figures(0.25)}
    print_summary(report, "tiny")
    default = capsys.readouterr().out.splitlines()
    print_summary(report, "tiny-t5")
    t5 = capsys.readouterr().out.splitlines()
    assert t5[:-1] == default and len(default) == 4  # questions, base, SFT, RL switched off
    assert default[2].startswith("  SFT   execution accuracy 0.250 on the test suite")
    assert t5[-1] == "  encoder-decoder, 5 beam(s), constraint rules; SFT record F1 0.350"
