"""Decoding by family: the tiny base says it decodes under the hand rules (where that was measured to help), a hub
folder says nothing and decodes unconstrained; merges carry the default; files from before the one knob still read;
reports name the decoding."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.modeling.decoding import (
    DEFAULTS_FILE, copy_decoding_default, decoding_name, default_constraint, report_constraint, resolve_constraint,
    write_decoding_default,
)


def test_the_tiny_bases_decode_under_the_rules_and_a_hub_stand_in_freely(tiny_base_dir, tiny_t5_dir, stand_in):
    assert default_constraint(tiny_base_dir) == "rules" and default_constraint(tiny_t5_dir) == "rules"
    for family in ("qwen2.5-coder-7b", "qwen3-8b", "t5-small"):
        assert default_constraint(stand_in(family)) == "none"


def test_a_folder_made_from_a_base_carries_its_default(tmp_path):
    base, merged, plain = tmp_path / "base", tmp_path / "merged", tmp_path / "plain"
    for folder in (base, merged, plain):
        folder.mkdir()
    write_decoding_default(base, constraint="grammar+rules", why="measured")
    copy_decoding_default(base, merged)
    copy_decoding_default(plain, tmp_path / "merged")  # nothing to carry: nothing written
    assert default_constraint(merged) == "grammar+rules" and not (plain / DEFAULTS_FILE).exists()


@pytest.mark.parametrize("stored,constraint", [({"constrained": True}, "rules"), ({"constrained": False}, "none")])
def test_a_stored_file_from_before_the_one_knob_still_reads(tmp_path, stored, constraint):
    (tmp_path / DEFAULTS_FILE).write_text(json.dumps({**stored, "why": "an older tiny base"}))
    assert default_constraint(tmp_path) == constraint
    assert report_constraint(stored) == constraint  # and so does a report's settings


def test_default_asks_the_folder_and_anything_else_is_refused_naming_the_allowed(tmp_path):
    write_decoding_default(tmp_path, constraint="grammar", why="measured")
    assert resolve_constraint("default", tmp_path) == "grammar" and resolve_constraint("", tmp_path) == "grammar"
    assert resolve_constraint("none", tmp_path) == "none"
    with pytest.raises(ValueError, match="constraint must be one of default, grammar, rules, grammar\\+rules, none"):
        resolve_constraint("strict", tmp_path)
    with pytest.raises(ValueError, match="constraint must be one of grammar, rules"):
        write_decoding_default(tmp_path, constraint="default", why="a folder names a real one")
    (tmp_path / DEFAULTS_FILE).write_text(json.dumps({"constraint": "yes"}))
    with pytest.raises(ValueError, match=f"{DEFAULTS_FILE}: constraint must be one of"):
        default_constraint(tmp_path)


@pytest.mark.parametrize("args,name", [
    ({}, "greedy, unconstrained"),
    ({"constraint": "rules"}, "greedy, constrained (rules)"),
    ({"num_beams": 5}, "beam search (5), unconstrained"),
    ({"incremental": True, "constraint": "grammar"}, "greedy, one pipe operator at a time, constrained (grammar)"),
    ({"votes": 4}, "greedy, voted by result over 4 queries (the greedy one and 3 sampled), unconstrained"),
])
def test_a_decoding_is_named_in_words(args, name):
    assert decoding_name(**args) == name
