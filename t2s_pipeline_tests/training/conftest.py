from __future__ import annotations

import pytest

from t2s_pipeline_tests.training import tiny


@pytest.fixture(scope="session")
def trajectories_dir(tmp_path_factory):
    return tiny.trajectories_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory):
    return tiny.tiny_base_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tokenized_dir(tmp_path_factory):
    return tiny.tokenized_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tokenizer(tiny_base_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base_dir)
