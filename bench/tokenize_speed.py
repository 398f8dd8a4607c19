"""Throughput of tokenized_splits against a bare batched call of the same tokenizer, in one run.

    .venv/bin/python bench/tokenize_speed.py [--copies 10] [--tokenizer DIR] [--repeat 3]

The samples are the embedded benchmark's trajectories (target `both`, a fifth of the pairs with a
tool-calling sample), repeated `--copies` times. The tokenizer is the tiny model's, trained here,
or any Hugging Face folder with a fast tokenizer and a chat template (`--tokenizer`).

Both sides get the same texts: the bare call is `tokenizer(texts)` on the conversations already
rendered by the chat template; the asset's time (tokenize_splits: read the JSONL, render, tokenize,
mask the prompt, write Arrow) includes rendering. Target: the asset reaches >= 70% of the bare
throughput. Best of --repeat runs on each side; run it on a quiet machine.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from embedded_samples import build_samples, tiny_tokenizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="times the embedded trajectories are repeated")
    parser.add_argument("--tokenizer", help="a model folder with a fast tokenizer (default: the tiny one, built here)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best times are compared")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from t2s_pipeline.modeling.tokenize import render, tokenize_splits

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trajectories = build_samples(work, args.copies)
        model_dir = Path(args.tokenizer) if args.tokenizer else tiny_tokenizer(work, trajectories)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        samples = [json.loads(line) for split in ("train", "dev", "test")
                   for line in (trajectories / f"{split}.jsonl").read_text().splitlines()]
        texts = [render(tokenizer, s["messages"], s.get("tools"))[0] for s in samples]

        bare, asset = [], []
        for k in range(args.repeat):
            start = time.perf_counter()
            tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            stats = tokenize_splits(trajectories, model_dir, work / f"tokenized{k}", log=lambda m: None)
            asset.append(time.perf_counter() - start)
        kept = sum(s["tokens"] for s in stats["splits"].values())
        print(f"{len(samples)} samples, {tokens} tokens ({kept} kept under max_length 1024)")
        print(f"bare tokenizer(texts): {min(bare):.3f} s = {tokens / min(bare):,.0f} tokens/s")
        print(f"tokenized_splits:      {min(asset):.3f} s = {tokens / min(asset):,.0f} tokens/s "
              f"(render, tokenize, mask, write Arrow)")
        ratio = min(bare) / min(asset)
        print(f"asset throughput / bare throughput: {ratio:.2f} (target >= 0.70)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
