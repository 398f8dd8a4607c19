"""Tiny base pretraining: packed rows (the default) against padded batches of whole documents.

    .venv/bin/python bench/pretrain_packing.py [--steps 30]

On the embedded benchmark's pretraining documents (train split, 3 literal swaps per pair), the tiny
Llama is pretrained for --steps steps both ways from the same initial weights: `padded`, as before,
samples 32 documents a step and pads them to the longest; `packed` (training/tiny_model.py) joins the
documents end to end into 24 rows of 128 tokens. Printed: seconds a step, document tokens (not
padding) a second, pad share, and the ratio packed/padded. Target: packed >= 2x the document tokens/s.
"""

import argparse
import copy
import random
import tempfile
import time
from pathlib import Path

from embedded_samples import build_samples


def padded_step_batches(encoded, batch_size, pad_id, rng):
    """The earlier way: a random sample of whole documents, padded to the longest."""
    import torch

    while True:
        batch = rng.sample(encoded, batch_size)
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((batch_size, width), pad_id)
        labels = torch.full((batch_size, width), -100)
        mask = torch.zeros((batch_size, width), dtype=torch.long)
        for i, ids in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
        yield {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def packed_step_batches(encoded, batch_size, row_length, rng):
    import torch

    from t2s_pipeline.training.tiny_model import packed_rows

    rows = packed_rows(encoded, row_length, rng)
    while True:
        input_ids = torch.tensor([next(rows) for _ in range(batch_size)])
        yield {"input_ids": input_ids, "labels": input_ids}


def measure(model, batches, steps):
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    tokens = padding = 0
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        real = int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        tokens, padding = tokens + real, padding + batch["input_ids"].numel() - real
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return seconds / steps, tokens / seconds, padding / (tokens + padding)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps timed each way")
    args = parser.parse_args()

    import torch

    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_model import TinyModelConfig, build_model, train_tokenizer

    cfg = TinyModelConfig()
    with tempfile.TemporaryDirectory() as tmp:
        trajectories = build_samples(Path(tmp), target="sql", tool_share=0.0)
        documents = pretraining_documents(trajectories, cfg.literal_variants, cfg.seed)
    tokenizer = train_tokenizer(documents, cfg.vocab_size)
    eos = tokenizer.eos_token_id
    encoded = [ids + [eos] for ids in tokenizer(documents)["input_ids"] if ids]
    model = build_model(tokenizer, cfg)
    print(f"{len(documents):,} documents, {sum(map(len, encoded)):,} tokens, mean {sum(map(len, encoded)) / len(encoded):.0f}"
          f" tokens; {args.steps} steps each way, {torch.get_num_threads()} threads")
    padded = measure(copy.deepcopy(model), padded_step_batches(encoded, 32, tokenizer.pad_token_id, random.Random(0)),
                     args.steps)
    packed = measure(copy.deepcopy(model), packed_step_batches(encoded, cfg.pretrain_batch_size,
                                                               cfg.pretrain_row_length, random.Random(0)), args.steps)
    for name, (step_s, tokens_s, pad) in (("padded, 32 documents", padded), (
            f"packed, {cfg.pretrain_batch_size} x {cfg.pretrain_row_length}", packed)):
        print(f"  {name:<22} {step_s:.3f} s/step  {tokens_s:>8,.0f} document tokens/s  pad share {pad:.1%}")
    print(f"packed / padded document tokens per second: {packed[1] / padded[1]:.2f}x (target >= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
