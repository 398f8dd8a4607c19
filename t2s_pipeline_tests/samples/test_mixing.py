"""mix_pairs: the train questions mixed by source with weights, caps and difficulties, deterministic for a seed."""

from __future__ import annotations

from collections import Counter

import pytest

from t2s_pipeline.records import read_jsonl, write_json, write_jsonl
from t2s_pipeline.samples.mixing import MixSource, mix_pairs, quotas
from t2s_pipeline.samples.trajectories import build_trajectories
from t2s_pipeline_tests.samples.test_trajectories import SCHEMAS


def pairs_of(benchmark: str, n: int, difficulties=("easy", "hard")) -> list[dict]:
    return [{"id": f"{benchmark}/train/{i}", "benchmark": benchmark, "db_id": "shop",
             "difficulty": difficulties[i % len(difficulties)]} for i in range(n)]


def by_source(mixed: list[dict]) -> Counter:
    return Counter(p["benchmark"] for p in mixed)


def test_equal_weights_and_no_filter_leave_the_train_split_unchanged():
    pairs = pairs_of("spider", 5) + pairs_of("bird", 3)
    mixed, stats = mix_pairs(pairs, {"spider": MixSource(weight=2.0), "bird": MixSource(weight=2.0)})
    assert mixed == pairs
    assert stats["spider"] == {"questions": 5, "kept": 5, "mixed": 5, "repeated": 0, "weight": 2.0}


def test_weights_set_each_sources_share_repeating_a_small_source():
    pairs = pairs_of("spider", 40) + pairs_of("bird", 40)
    mixed, stats = mix_pairs(pairs, {"bird": MixSource(weight=3.0)}, seed=1)
    assert len(mixed) == 80 and by_source(mixed) == {"bird": 60, "spider": 20}
    assert stats["bird"]["repeated"] == 20 and stats["spider"]["repeated"] == 0
    # Repeats go round the source's questions: each bird question once or twice, never three times.
    assert set(Counter(p["id"] for p in mixed if p["benchmark"] == "bird").values()) <= {1, 2}
    assert len({p["id"] for p in mixed if p["benchmark"] == "spider"}) == 20


def test_max_samples_and_difficulties_filter_before_weighting():
    pairs = pairs_of("spider", 30) + pairs_of("synsql", 100)
    mixed, stats = mix_pairs(pairs, {"synsql": MixSource(max_samples=10, difficulties=("hard",))})
    assert stats["synsql"] == {"questions": 100, "after_difficulty": 50, "kept": 10, "mixed": 20, "repeated": 10,
                               "weight": 1.0}
    assert by_source(mixed) == {"spider": 20, "synsql": 20}
    assert all(p["difficulty"] == "hard" for p in mixed if p["benchmark"] == "synsql")


def test_the_mix_is_deterministic_for_a_seed():
    pairs = pairs_of("spider", 30) + pairs_of("bird", 12)
    sources = {"bird": MixSource(weight=2.0, max_samples=8)}
    first, _ = mix_pairs(pairs, sources, seed=7)
    assert mix_pairs(pairs, sources, seed=7)[0] == first
    assert mix_pairs(pairs, sources, seed=8)[0] != first


def test_a_source_without_train_questions_is_reported_with_nothing_mixed():
    pairs = pairs_of("spider", 4)
    mixed, stats = mix_pairs(pairs, {"bird": MixSource(weight=2.0)})
    assert mixed == pairs and stats["bird"]["questions"] == stats["bird"]["mixed"] == 0


def test_an_empty_train_split_mixes_to_nothing():
    assert mix_pairs([], {"bird": MixSource(weight=2.0)}) == ([], {"bird": {"questions": 0, "kept": 0, "mixed": 0,
                                                                           "repeated": 0, "weight": 2.0}})


def test_weight_zero_drops_a_source():
    mixed, stats = mix_pairs(pairs_of("spider", 6) + pairs_of("bird", 4), {"bird": MixSource(weight=0.0)})
    assert by_source(mixed) == {"spider": 6} and stats["bird"]["mixed"] == 0


def test_quotas_add_up_to_the_kept_questions():
    # 10 questions over three equal weights: 3.33 each, the one left over goes to the first name.
    assert quotas({"a": 3, "b": 3, "c": 4}, {"a": 1.0, "b": 1.0, "c": 1.0}) == {"a": 4, "b": 3, "c": 3}
    assert sum(quotas({"a": 7, "b": 5}, {"a": 1.0, "b": 2.0}).values()) == 12


@pytest.mark.parametrize("sources, message", [
    ({"spider": MixSource(weight=0.0), "bird": MixSource(weight=0.0)}, "every source of the mix has weight 0"),
    ({"bird": MixSource(difficulties=("extra",))}, "'bird' keeps no question with difficulty in \\['extra'\\]"),
])
def test_impossible_mixes_are_clear_errors(sources, message):
    with pytest.raises(ValueError, match=message):
        mix_pairs(pairs_of("spider", 4) + pairs_of("bird", 4), sources)


@pytest.mark.parametrize("kwargs", [{"weight": -1.0}, {"weight": float("nan")}, {"max_samples": 0}])
def test_a_bad_mix_source_is_rejected(kwargs):
    with pytest.raises(ValueError, match="mix"):
        MixSource(**kwargs)


def test_build_trajectories_mixes_only_the_train_split(tmp_path):
    from t2s_pipeline_tests.samples.test_trajectories import make_pairs

    pairs = make_pairs()
    for pair in pairs[12:]:
        pair["benchmark"] = "bird"
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    write_json(tmp_path / "schemas.json", SCHEMAS)
    plain = build_trajectories(tmp_path, tmp_path, tmp_path / "plain", seed=3)
    mixed = build_trajectories(tmp_path, tmp_path, tmp_path / "mixed", seed=3, mix={"bird": MixSource(weight=3.0)})
    for split in ("dev", "test"):
        assert list(read_jsonl(tmp_path / "mixed" / f"{split}.jsonl")) == list(
            read_jsonl(tmp_path / "plain" / f"{split}.jsonl"))
    train = list(read_jsonl(tmp_path / "mixed" / "train.jsonl"))
    assert len(train) == plain["samples"]["train"]
    assert Counter(s["meta"]["benchmark"] for s in train)["bird"] == mixed["mix"]["bird"]["mixed"]
    assert mixed["mix"]["bird"]["mixed"] == round(len(train) * 3 / 4)
