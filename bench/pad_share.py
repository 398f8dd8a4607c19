"""Share of pad tokens in training batches: plain padding against the project's default batching.

    .venv/bin/python bench/pad_share.py [--preset tiny] [--target sql]

On the embedded trajectories tokenized with the tiny tokenizer, the train split is cut into batches
as the Trainer does (a seeded random order, the preset's per-device batch size) and each batch is
collated both ways: `pad` pads to the batch's longest sample, the preset's `batching` (the default
preset, tiny, uses `padding_free`: one row per batch, no pad token). Target: the default < 5%.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from embedded_samples import build_samples, tiny_tokenizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="preset whose batch size and batching are measured")
    parser.add_argument("--target", default="sql", choices=["sql", "pipe", "both"], help="trajectories target")
    args = parser.parse_args()

    import torch
    from datasets import load_from_disk
    from transformers import AutoTokenizer, DataCollatorWithFlattening

    from t2s_pipeline.modeling.tokenize import IGNORE_INDEX, tokenize_splits
    from t2s_pipeline.training.collate import pad_collator
    from t2s_pipeline.training.config import load_preset
    from t2s_pipeline.training.run_figures import batch_token_stats

    cfg = load_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trajectories = build_samples(work, target=args.target, tool_share=0.0)
        model_dir = tiny_tokenizer(work, trajectories)
        tokenize_splits(trajectories, model_dir, work / "tokenized", max_length=cfg.max_length, log=lambda m: None)
        train = load_from_disk(str(work / "tokenized"))["train"].remove_columns(["id"])
        tokenizer = AutoTokenizer.from_pretrained(model_dir)

        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
        size = cfg.per_device_train_batch_size
        batches = [[train[i] for i in order[k:k + size]] for k in range(0, len(order), size)]
        collators = {"pad": pad_collator(tokenizer.pad_token_id),
                     "padding_free": DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)}
        print(f"{len(train)} train samples (target {args.target}), {len(batches)} batches of {size}")
        shares = {}
        for name, collate in collators.items():
            stats = batch_token_stats(collate(batch) for batch in batches)
            shares[name] = stats["pad_share"]
            print(f"{name:>13}: {stats['batch_tokens']:>8} batch tokens, {stats['real_tokens']:>8} real, "
                  f"pad share {stats['pad_share']:.2%}")
        default = shares[cfg.batching]
        print(f"preset {args.preset} batches with {cfg.batching}: pad share {default:.2%} "
              f"({'meets' if default < 0.05 else 'misses'} the < 5% target); plain padding {shares['pad']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
