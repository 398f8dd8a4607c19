"""`t2s demo --model`: each embedded model's run config is one the full chain accepts."""

import argparse

import dagster as dg
import pytest

from t2s_pipeline.cli.demo import DEMO_MODELS, add_parser, demo_run_config
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
    assert "ops" not in demo_run_config("tiny", verbose=True)  # the default demo runs on the defaults


def test_the_model_flag_defaults_to_tiny_and_refuses_others():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    assert parser.parse_args(["demo"]).model == "tiny"
    assert parser.parse_args(["demo", "--model", "tiny-t5"]).model == "tiny-t5"
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--model", "t5-small"])
    with pytest.raises(ValueError, match="no demo for model 't5-small'"):
        demo_run_config("t5-small", verbose=True)
