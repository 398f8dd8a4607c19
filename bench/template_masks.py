"""Prompt masking on the real Qwen templates: the project's labels (the published template, each assistant turn
found by rendering, thinking off) against those of TRL's training templates ({% generation %} markers), on the
same conversations, with the hub-shaped stand-ins' tokenizers.

    .venv/bin/python bench/template_masks.py [--trajectories DIR] [--samples 200]

Without --trajectories the data half of the chain is materialized on the embedded benchmark (tool_share 0.1,
about 30 s). Prints, per family and sample kind: conversations whose labeled text is the same both ways, the
labeled tokens of each (ours / TRL's, and the ratio), and the first difference seen.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

TRAINING_TEMPLATES = {"qwen2.5-coder-7b": "qwen2_5_training.jinja", "qwen3-8b": "qwen3_training.jinja"}


def trajectories(folder: str | None, work: Path) -> Path:
    if folder:
        return Path(folder)
    import os

    import dagster as dg

    from t2s_pipeline.definitions import defs
    from t2s_pipeline.resources.storage import current_version_path

    os.environ["T2S_STORAGE"] = str(work)
    defs.resolve_job_def("data").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config={"ops": {"trajectories": {"config": {"tool_share": 0.1}}}})
    return current_version_path(work, "trajectories")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", help="a trajectories folder (train.jsonl)")
    parser.add_argument("--samples", type=int, default=200, help="conversations per kind")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from t2s_pipeline.modeling.stand_ins import build_stand_in, chat_template_text
    from t2s_pipeline.modeling.tokenize import _render
    from t2s_pipeline.records import read_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        rows = list(read_jsonl(trajectories(args.trajectories, Path(tmp) / "storage") / "train.jsonl"))
        kinds = sorted({r["meta"]["kind"] for r in rows})
        print("| family | kind | conversations | same labels | labeled tokens ours / TRL's "
              "| first difference (ours -> TRL's) |")
        print("|---|---|---|---|---|---|")
        for family, training in TRAINING_TEMPLATES.items():
            build_stand_in(family, Path(tmp) / family)
            tokenizer = AutoTokenizer.from_pretrained(Path(tmp) / family)
            special, theirs_template = dict(tokenizer.special_tokens_map), chat_template_text(training)
            count = lambda texts: sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
            for kind in kinds:
                same, ours_tokens, theirs_tokens, first = 0, 0, 0, ""
                samples = [r for r in rows if r["meta"]["kind"] == kind][:args.samples]
                for sample in samples:
                    labeled = []
                    for template in (tokenizer.chat_template, theirs_template):
                        text, spans = _render(template, special, sample["messages"], sample.get("tools"))
                        labeled.append([text[a:b] for a, b in spans])
                    ours, theirs = labeled
                    same += ours == theirs
                    ours_tokens, theirs_tokens = ours_tokens + count(ours), theirs_tokens + count(theirs)
                    if ours != theirs and not first:
                        first = (f"{json.dumps(ours[0][:40])} -> {json.dumps(theirs[0][:40])}; "
                                 f"turns {len(ours)} -> {len(theirs)}")
                first = first.replace("|", "\\|")
                print(f"| {family} | {kind} | {len(samples)} | {same} | {ours_tokens} / {theirs_tokens} "
                      f"({ours_tokens / max(theirs_tokens, 1):.2f}) | {first} |")


if __name__ == "__main__":
    main()
