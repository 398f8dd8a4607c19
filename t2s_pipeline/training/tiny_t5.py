"""The embedded encoder-decoder base: a tiny T5 built from a config, with a locally trained tokenizer.

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the training texts, with T5's
special tokens (<pad> 0, </s> 1, <unk> 2) and sentinels <extra_id_N> for span corruption. Like the
tiny Llama, a random network learns little from a short fine-tuning, so the base is pretrained
briefly the way T5 was: spans of the train documents are replaced by sentinels in the encoder input,
and the decoder writes the missing spans; and, for half the documents, as a prefix language model (the
encoder reads the start of a document, the decoder writes the rest), which gives the decoder whole
stretches of SQL to write (span corruption alone left a decoder that repeated itself after 400 steps of
fine-tuning: 0 of 75 dev questions right). Like the tiny Llama, it has read questions next to their SQL
but never a prompt in the fine-tuning format; fine-tuning then teaches it to answer one.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from t2s_pipeline.modeling.decoding import write_decoding_default

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
SENTINELS = 16  # at most this many masked spans per document


def sentinel(k: int) -> str:
    return f"<extra_id_{k}>"


@dataclass
class TinyT5Config:
    vocab_size: int = 2048
    d_model: int = 192
    d_kv: int = 48
    d_ff: int = 512
    num_layers: int = 2  # encoder layers; the decoder has as many
    num_heads: int = 4
    pretrain_steps: int = 250
    pretrain_lr: float = 2e-3
    pretrain_batch_size: int = 32
    pretrain_max_length: int = 256
    noise_density: float = 0.15
    mean_span_length: float = 3.0
    prefix_lm_share: float = 0.5  # documents trained as a prefix language model instead of by span corruption
    # Packed rows: several documents' encoder inputs fill one encoder row of pretrain_max_length tokens, their
    # targets one decoder row of pretrain_target_length; a step takes pretrain_packed_rows rows (8 rows hold
    # about 2x the document tokens of 32 padded documents) instead of pretrain_batch_size documents.
    pretrain_packed: bool = False
    pretrain_target_length: int = 128
    pretrain_packed_rows: int = 8
    seed: int = 0


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with T5's special tokens, wrapped as a transformers fast tokenizer.

    EOS is appended by the callers (tokenization, generation), not by a post-processor, so the same
    code serves a real T5 tokenizer called with add_special_tokens=False."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, UNK, *(sentinel(k) for k in range(SENTINELS))],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK,
                                   additional_special_tokens=[sentinel(k) for k in range(SENTINELS)])


def build_model(tokenizer, cfg: TinyT5Config):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(cfg.seed)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=cfg.d_model, d_kv=cfg.d_kv, d_ff=cfg.d_ff,
        num_layers=cfg.num_layers, num_decoder_layers=cfg.num_layers, num_heads=cfg.num_heads,
        dropout_rate=0.0, feed_forward_proj="relu", tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return T5ForConditionalGeneration(config)


def span_corruption(ids: list[int], rng: random.Random, sentinel_ids: list[int], eos: int,
                    noise_density: float, mean_span_length: float) -> tuple[list[int], list[int]]:
    """(encoder input, decoder target) for one document: about noise_density of its tokens, in spans of
    mean_span_length on average, replaced by sentinels in the input; the target is each sentinel followed
    by the span it hides, then EOS."""
    n = len(ids)
    spans = max(1, min(len(sentinel_ids), round(n * noise_density / mean_span_length)))
    starts = sorted(rng.sample(range(n), min(spans, n)))
    inputs, targets, pos, k = [], [], 0, 0
    for start in starts:
        if start < pos:
            continue  # overlaps the span before
        length = rng.randint(1, max(1, round(2 * mean_span_length) - 1))
        inputs += ids[pos:start] + [sentinel_ids[k]]
        targets += [sentinel_ids[k]] + ids[start:start + length]
        pos, k = start + length, k + 1
    return inputs + ids[pos:] + [eos], targets + [eos]


def prefix_lm(ids: list[int], rng: random.Random, eos: int,
              max_target: int | None = None) -> tuple[list[int], list[int]]:
    """(encoder input, decoder target): the document cut at a random point, its start read, the rest written
    (at most max_target tokens of it with the EOS: the cut moves right for a long document)."""
    lowest = 1 if max_target is None else max(1, len(ids) - max_target + 1)
    cut = rng.randint(min(lowest, len(ids) - 1), len(ids) - 1)
    return ids[:cut] + [eos], ids[cut:] + [eos]


def tail_prefix_lm(ids: list[int], room_in: int, room_out: int, eos: int) -> tuple[list[int], list[int]]:
    """A prefix-LM example of at most room_in input and room_out target tokens (EOS not counted) from the
    document's end: its start is dropped, not its end, so the target still ends where the document does."""
    window = ids[-(room_in + room_out):] if len(ids) > room_in + room_out else ids
    # A short window is split in the ratio of the room left, so that both rows fill up alike.
    share = round(len(window) * room_in / (room_in + room_out))
    cut = max(1, len(window) - room_out, min(share, room_in, len(window) - 1))
    return window[:cut] + [eos], window[cut:] + [eos]


def packing_chunks(encoded: list[list[int]], length: int) -> list[list[int]]:
    """The documents cut into pieces of at most length - 1 tokens (the EOS an example adds makes length), so
    that a document longer than a row is trained whole, piece by piece, not cut short; pieces under 2 tokens
    are left out (a prefix LM needs a start and a rest)."""
    if length < 3:
        raise ValueError(f"pretrain_max_length {length} leaves no room for a document and its EOS")
    pieces = [ids[k:k + length - 1] for ids in encoded for k in range(0, len(ids), length - 1)]
    return [p for p in pieces if len(p) >= 2]


def packed_pairs(encoded: list[list[int]], rng: random.Random, sentinel_ids: list[int], eos: int, cfg: TinyT5Config,
                 lookahead: int = 8):
    """Endless (encoder row, decoder row) pairs: documents in shuffled passes, each made an example (prefix LM or
    span corruption) and appended to the row while its input and target both fit; of `lookahead` waiting
    documents, the first that fits goes next. Sentinels are numbered on across the row (the second document's
    first span is <extra_id_k> after k in the first), so no id in a target points at two documents; a
    document that would need more sentinels than the row has left is trained as a prefix LM. Every input and
    target ends with EOS, which keeps the documents apart."""
    enc_len, dec_len = cfg.pretrain_max_length, cfg.pretrain_target_length
    if not encoded:
        raise ValueError("no pretraining text: every document is shorter than 2 tokens")
    if dec_len < 2:
        raise ValueError(f"pretrain_target_length {dec_len} leaves no room for a target and its EOS")

    def documents():
        while True:
            order = list(range(len(encoded)))
            rng.shuffle(order)
            yield from (encoded[i] for i in order)

    stream, waiting = documents(), []
    while True:
        enc, dec, used = [], [], 0
        while True:
            waiting += [next(stream) for _ in range(lookahead - len(waiting))]
            for n, ids in enumerate(waiting):
                spans_wanted = max(1, round(len(ids) * cfg.noise_density / cfg.mean_span_length))
                if rng.random() < cfg.prefix_lm_share or used + spans_wanted > len(sentinel_ids):
                    inputs, target = prefix_lm(ids, rng, eos, dec_len)
                else:
                    inputs, target = span_corruption(ids, rng, sentinel_ids[used:], eos, cfg.noise_density,
                                                     cfg.mean_span_length)
                if len(enc) + len(inputs) <= enc_len and len(dec) + len(target) <= dec_len:
                    enc, dec = enc + inputs, dec + target
                    used += sum(1 for t in inputs if t in sentinel_ids)
                    del waiting[n]
                    break
            else:
                room_in, room_out = enc_len - len(enc), dec_len - len(dec)
                if room_in < 2 or room_out < 2:
                    break  # full, but for a token or so
                inputs, target = tail_prefix_lm(waiting.pop(0), room_in - 1, room_out - 1, eos)
                enc, dec = enc + inputs, dec + target
        if not enc:
            raise ValueError(f"a document does not fit a packed row of {enc_len} encoder tokens")
        yield enc, dec


def _padded(rows: list[list[int]], pad: int):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def pretrain(model, tokenizer, documents: list[str], cfg: TinyT5Config, log=print) -> list[float]:
    """A short span-corruption and prefix-LM pass over the documents (whole documents padded to the longest, or
    packed rows: cfg.pretrain_packed); returns the loss per step."""
    import torch

    rng = random.Random(cfg.seed)
    sentinel_ids = tokenizer.convert_tokens_to_ids([sentinel(k) for k in range(SENTINELS)])
    eos = tokenizer.eos_token_id
    encoded = tokenizer(documents, add_special_tokens=False)["input_ids"]
    if cfg.pretrain_packed:
        encoded = packing_chunks(encoded, cfg.pretrain_max_length)
        rows = packed_pairs(encoded, rng, sentinel_ids, eos, cfg)
    else:
        encoded = [ids[: cfg.pretrain_max_length] for ids in encoded if len(ids) >= 2]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.0)
    warmup = max(1, cfg.pretrain_steps // 10)
    schedule = lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / cfg.pretrain_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses = []
    for step in range(cfg.pretrain_steps):
        pairs = [next(rows) for _ in range(cfg.pretrain_packed_rows)] if cfg.pretrain_packed else [
            prefix_lm(ids, rng, eos) if rng.random() < cfg.prefix_lm_share else
            span_corruption(ids, rng, sentinel_ids, eos, cfg.noise_density, cfg.mean_span_length)
            for ids in rng.sample(encoded, min(cfg.pretrain_batch_size, len(encoded)))]
        input_ids, mask = _padded([p[0] for p in pairs], tokenizer.pad_token_id)
        labels, label_mask = _padded([p[1] for p in pairs], tokenizer.pad_token_id)
        labels[label_mask == 0] = -100
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 25 == 0 or step == cfg.pretrain_steps - 1:
            log(f"tiny base pretraining step {step + 1}/{cfg.pretrain_steps} loss {loss.item():.3f} (T5)")
    model.eval()
    return losses


def build_tiny_t5(documents: list[str], out_dir: str | Path, cfg: TinyT5Config | None = None, log=print) -> dict:
    """Train the tokenizer, build and briefly pretrain the model, save a Hugging Face folder. Returns stats."""
    import torch

    cfg = cfg or TinyT5Config()
    out_dir = Path(out_dir)
    start = time.monotonic()
    torch.manual_seed(cfg.seed)
    tokenizer = train_tokenizer(documents, cfg.vocab_size)
    model = build_model(tokenizer, cfg)
    losses = pretrain(model, tokenizer, documents, cfg, log=log) if cfg.pretrain_steps else []
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # Built here, like the tiny Llama: decoded under the constraint by default (hub models are not).
    write_decoding_default(out_dir, constraint="rules", why="a tiny model built here: eval_report constrains it")
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_documents": len(documents),
        "pretrain_objective": f"span_corruption + prefix_lm ({cfg.prefix_lm_share:.0%})"
                              + (", packed rows" if cfg.pretrain_packed else ""),
        "pretrain_first_loss": losses[0] if losses else None,
        "pretrain_last_loss": losses[-1] if losses else None,
        "seconds": round(time.monotonic() - start, 1),
        "config": asdict(cfg),
    }
