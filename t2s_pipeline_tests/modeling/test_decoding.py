"""Decoding by family: the tiny base says it decodes constrained (where that was measured to help), a hub folder
says nothing and decodes unconstrained; merges carry the default; reports name the decoding."""

from __future__ import annotations

import pytest

from t2s_pipeline.modeling.decoding import (
    DEFAULTS_FILE, copy_decoding_default, decoding_name, default_constrained, write_decoding_default,
)


def test_the_tiny_bases_decode_constrained_and_a_hub_stand_in_does_not(tiny_base_dir, tiny_t5_dir, stand_in):
    assert default_constrained(tiny_base_dir) is True and default_constrained(tiny_t5_dir) is True
    for family in ("qwen2.5-coder-7b", "qwen3-8b", "t5-small"):
        assert default_constrained(stand_in(family)) is False


def test_a_folder_made_from_a_base_carries_its_default(tmp_path):
    base, merged, plain = tmp_path / "base", tmp_path / "merged", tmp_path / "plain"
    for folder in (base, merged, plain):
        folder.mkdir()
    write_decoding_default(base, constrained=True, why="measured")
    copy_decoding_default(base, merged)
    copy_decoding_default(plain, tmp_path / "merged")  # nothing to carry: nothing written
    assert default_constrained(merged) is True and not (plain / DEFAULTS_FILE).exists()


@pytest.mark.parametrize("args,name", [
    ({}, "greedy, unconstrained"),
    ({"constrained": True}, "greedy, constrained"),
    ({"num_beams": 5}, "beam search (5), unconstrained"),
    ({"incremental": True, "constrained": True}, "greedy, one pipe operator at a time, constrained"),
    ({"votes": 4}, "greedy, voted by result over 4 queries (the greedy one and 3 sampled), unconstrained"),
])
def test_a_decoding_is_named_in_words(args, name):
    assert decoding_name(**args) == name
