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
def stand_in(tmp_path_factory):
    """stand_in(family) -> a hub-shaped stand-in folder (modeling/stand_ins.py), each family built once."""
    from t2s_pipeline.modeling.stand_ins import build_stand_in

    root, built = tmp_path_factory.mktemp("stand_ins"), {}

    def get(family: str):
        if family not in built:
            build_stand_in(family, root / family)
            built[family] = root / family
        return built[family]

    return get
