"""Weighted mixing of the training questions by source (benchmark), deterministic for a seed.

Each source may keep only some difficulties and at most `max_samples` questions (drawn with the
seed). The weights then set each source's share of the mixed train split, whose size is the
number of questions the sources with a weight above 0 kept: a source whose share is larger than what it kept repeats questions, a
smaller share leaves some out. Weight 0 drops a source. Only the train split is mixed: dev and test
stay as they are, so evaluation measures the same questions whatever the mix.

With every weight equal and no filter or cap, the mix is the train split unchanged.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MixSource:
    weight: float = 1.0
    max_samples: int | None = None
    difficulties: tuple[str, ...] = field(default_factory=tuple)  # empty keeps every difficulty

    def __post_init__(self):
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"mix weight must be a finite number >= 0, got {self.weight}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"mix max_samples must be >= 1 (or empty for no cap), got {self.max_samples}")


def quotas(kept: dict[str, int], weights: dict[str, float]) -> dict[str, int]:
    """Questions per source: shares by weight of the questions the weighted sources kept, rounded so they
    add up (largest remainder)."""
    total = sum(n for name, n in kept.items() if weights[name] > 0)
    weight_sum = sum(weights[name] for name in kept)
    if weight_sum == 0:
        raise ValueError("every source of the mix has weight 0: nothing to train on")
    exact = {name: total * weights[name] / weight_sum for name in kept}
    out = {name: math.floor(x) for name, x in exact.items()}
    for name in sorted(exact, key=lambda n: (out[n] - exact[n], n))[: total - sum(out.values())]:
        out[name] += 1
    return out


def mix_pairs(pairs: list[dict], sources: dict[str, MixSource], seed: int = 0) -> tuple[list[dict], dict]:
    """The mixed list of train pairs and, per source, how many it had, kept, and gave (with repeats).

    `sources` maps a benchmark name to its MixSource; a benchmark not named gets the defaults.
    """
    by_source: dict[str, list[dict]] = defaultdict(list)
    for pair in pairs:
        by_source[pair["benchmark"]].append(pair)
    absent = {name: {**_stats(0, 0, 0), "weight": spec.weight} for name, spec in sources.items()
              if name not in by_source}  # named, but no train question: reported, nothing to mix
    specs = {name: sources.get(name, MixSource()) for name in by_source}
    if not specs or _is_identity(specs.values()):
        return list(pairs), {**absent, **{name: {**_stats(len(p), len(p), len(p)), "weight": specs[name].weight}
                                          for name, p in by_source.items()}}

    kept: dict[str, list[dict]] = {}
    stats: dict[str, dict] = {}
    for name, source_pairs in sorted(by_source.items()):
        spec = specs[name]
        chosen = [p for p in source_pairs if not spec.difficulties or p.get("difficulty") in spec.difficulties]
        if spec.weight > 0 and not chosen:
            raise ValueError(f"mix source {name!r} keeps no question with difficulty in {list(spec.difficulties)}")
        random.Random(f"{seed}:{name}").shuffle(chosen)
        kept[name] = chosen[: spec.max_samples] if spec.max_samples else chosen
        stats[name] = {"questions": len(source_pairs), "after_difficulty": len(chosen)}
    counts = quotas({name: len(p) for name, p in kept.items()}, {name: specs[name].weight for name in kept})
    mixed = []
    for name, chosen in kept.items():
        quota = counts[name]
        mixed += [chosen[k % len(chosen)] for k in range(quota)] if chosen else []
        stats[name] = {**stats[name], **_stats(stats[name]["questions"], len(chosen), quota)}
        stats[name]["weight"] = specs[name].weight
    random.Random(f"{seed}:mix").shuffle(mixed)
    return mixed, {**absent, **stats}


def _is_identity(specs) -> bool:
    specs = list(specs)
    return (len({s.weight for s in specs}) == 1 and specs[0].weight > 0
            and not any(s.max_samples or s.difficulties for s in specs))


def _stats(questions: int, kept: int, mixed: int) -> dict:
    return {"questions": questions, "kept": kept, "mixed": mixed, "repeated": max(0, mixed - kept)}
