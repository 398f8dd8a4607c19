"""Fixtures shared across the test folders: the tiny chat samples, base model and tokenized splits.

Each is built once per session (t2s_pipeline_tests/training/tiny.py memoises them).
"""

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


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory):
    return tiny.tiny_t5_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def t5_tokenized_dir(tmp_path_factory):
    return tiny.t5_tokenized_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def music_databases(tmp_path_factory):
    return tiny.music_databases(tmp_path_factory)


@pytest.fixture(scope="session")
def tool_model(tmp_path_factory):
    """(model folder, music database, schema): a tiny model trained on tool-calling conversations."""
    from t2s_pipeline_tests.modeling import tool_model as built

    return built.tool_model(tmp_path_factory)
