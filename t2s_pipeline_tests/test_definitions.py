"""The code location loads, with the nine assets of the chain and exactly the edges of DESIGN.md."""

import dagster as dg

from t2s_pipeline.definitions import defs

EDGES = {
    "raw_benchmarks": set(),
    "golden_pairs": {"raw_benchmarks"},
    "test_suites": {"raw_benchmarks", "golden_pairs"},
    "trajectories": {"golden_pairs", "raw_benchmarks"},
    "base_model": {"trajectories"},
    "tokenized_splits": {"trajectories", "base_model"},
    "lora_adapter": {"tokenized_splits", "base_model", "trajectories", "raw_benchmarks"},
    "rl_adapter": {"lora_adapter", "base_model", "trajectories", "raw_benchmarks", "test_suites"},
    "eval_report": {"lora_adapter", "rl_adapter", "base_model", "trajectories", "raw_benchmarks", "test_suites"},
    "merged_model": {"lora_adapter", "rl_adapter", "base_model", "eval_report"},
}
GROUPS = {"data", "training", "evaluation"}


def test_definitions_load():
    assert defs.resolve_job_def("full_chain") is not None
    assert defs.resolve_job_def("data") is not None


def test_asset_keys_and_edges_match_the_design():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(EDGES)
    for key, parents in EDGES.items():
        node = graph.get(dg.AssetKey(key))
        assert {p.to_user_string() for p in node.parent_keys} == parents, key


def test_every_asset_has_group_kinds_and_description():
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.group_name in GROUPS, name
        assert spec.kinds, name
        assert spec.description and len(spec.description) > 40, name


def test_merge_is_gated_by_a_blocking_check_on_eval_report():
    graph = defs.resolve_asset_graph()
    checks = {k.name: k for k in graph.asset_check_keys}
    assert "eval_report_not_worse_than_base" in checks
    check = graph.get_check_spec(checks["eval_report_not_worse_than_base"])
    assert check.blocking
