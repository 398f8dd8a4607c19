"""Tiny T5 pretraining: packed rows against padded batches of whole documents.

    .venv/bin/python bench/t5_pretrain_packing.py [--steps 20] [--rows 8] [--length 256] [--target-length 128]

On the embedded benchmark's pretraining documents (train split, as base_model builds the tiny-t5), the
tiny T5 is pretrained for --steps steps both ways from the same initial weights, with the same mix of
span corruption and prefix LM: `padded` (pretrain_packed off) samples 32 documents a step and
pads inputs and targets to the longest; `packed` (training/tiny_t5.packed_pairs) fills --rows encoder rows of
pretrain_max_length tokens and their decoder rows of pretrain_target_length. Printed: seconds a step,
document tokens (encoder and decoder tokens that are not padding) a second, pad share, and the ratio
packed/padded. The two ways take their steps in turn, so that a busy machine slows both alike. The packed way is timed
without the per-example attention masks that pretraining now uses (tiny_t5.packed_batch), which add a little
work a step.
"""

import argparse
import copy
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from embedded_samples import build_samples


def padded_batches(encoded, cfg, sentinel_ids, eos, rng):
    from t2s_pipeline.training.tiny_t5 import prefix_lm, span_corruption

    while True:
        yield [prefix_lm(ids, rng, eos) if rng.random() < cfg.prefix_lm_share else
               span_corruption(ids, rng, sentinel_ids, eos, cfg.noise_density, cfg.mean_span_length)
               for ids in rng.sample(encoded, cfg.pretrain_batch_size)]


def packed_batches(encoded, cfg, sentinel_ids, eos, rng):
    from t2s_pipeline.training.tiny_t5 import packed_pairs, packing_chunks

    rows = packed_pairs(packing_chunks(encoded, cfg.pretrain_max_length), rng, sentinel_ids, eos, cfg)
    while True:
        yield [next(rows) for _ in range(cfg.pretrain_packed_rows)]


def measure(models, batches, steps, pad_id):
    """Steps of each way in turn (one of each, then again), so that the machine's load falls on both alike.
    Per way: (seconds a step, document tokens a second, pad share)."""
    import torch

    from t2s_pipeline.training.tiny_t5 import _padded

    optimizers = [torch.optim.AdamW(m.parameters(), lr=2e-3) for m in models]
    seconds, tokens, cells = [0.0] * len(models), [0] * len(models), [0] * len(models)
    for _ in range(steps):
        for k, (model, optimizer) in enumerate(zip(models, optimizers)):
            model.train()
            pairs = next(batches[k])
            start = time.perf_counter()
            input_ids, mask = _padded([p[0] for p in pairs], pad_id)
            labels, label_mask = _padded([p[1] for p in pairs], pad_id)
            labels[label_mask == 0] = -100
            model(input_ids=input_ids, attention_mask=mask, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            seconds[k] += time.perf_counter() - start
            tokens[k] += int(mask.sum() + label_mask.sum())
            cells[k] += mask.numel() + label_mask.numel()
    return [(s / steps, t / s, 1 - t / c) for s, t, c in zip(seconds, tokens, cells)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps timed each way")
    parser.add_argument("--rows", type=int, default=8, help="packed rows a step")
    parser.add_argument("--length", type=int, default=256, help="encoder tokens a packed row")
    parser.add_argument("--target-length", type=int, default=128, help="decoder tokens a packed row")
    args = parser.parse_args()

    import torch

    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_t5 import SENTINELS, TinyT5Config, build_model, sentinel, train_tokenizer

    cfg = TinyT5Config(pretrain_packed=False, pretrain_max_length=256)  # the padded way as first measured
    with tempfile.TemporaryDirectory() as tmp:
        trajectories = build_samples(Path(tmp), target="sql", tool_share=0.0)
        documents = pretraining_documents(trajectories)
    tokenizer = train_tokenizer(documents, cfg.vocab_size)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    sentinel_ids = tokenizer.convert_tokens_to_ids([sentinel(k) for k in range(SENTINELS)])
    encoded = [ids[: cfg.pretrain_max_length] for ids in tokenizer(documents, add_special_tokens=False)["input_ids"]]
    encoded = [ids for ids in encoded if len(ids) >= 2]
    model = build_model(tokenizer, cfg)
    total = sum(map(len, encoded))
    print(f"{len(encoded):,} documents, {total:,} tokens, mean {total / len(encoded):.0f} tokens; {args.steps} steps "
          f"each way, {torch.get_num_threads()} threads")
    packed_cfg = replace(cfg, pretrain_packed=True, pretrain_packed_rows=args.rows, pretrain_max_length=args.length,
                         pretrain_target_length=args.target_length)
    padded, packed = measure([copy.deepcopy(model), copy.deepcopy(model)], [
        padded_batches(encoded, cfg, sentinel_ids, eos, random.Random(0)),
        packed_batches(encoded, packed_cfg, sentinel_ids, eos, random.Random(0))], args.steps, pad)
    for name, (step_s, tokens_s, pad_share) in (
            (f"padded, {cfg.pretrain_batch_size} documents", padded),
            (f"packed, {args.rows} x {args.length}/{args.target_length}", packed)):
        print(f"  {name:<24} {step_s:.3f} s/step  {tokens_s:>8,.0f} document tokens/s  pad share {pad_share:.1%}")
    print(f"packed / padded document tokens per second: {packed[1] / padded[1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
