"""Tokenize chat samples with prompt masking: labels are -100 everywhere but the assistant turns.

In batches, the way a fast tokenizer is quick: render each conversation to text with the model's
chat template and find the character spans of its assistant turns, tokenize the whole batch in
one call, then map the spans onto tokens (char_to_token, two lookups per turn).

Where the assistant turns are:
- a template with {% generation %} markers reports them itself (end-of-turn token included, so
  the model learns to stop);
- without markers, turn k is what rendering messages[:k+1] adds to rendering messages[:k] with
  the generation prompt. Every assistant turn is learned (tool calls included) when the template
  renders each turn as a prefix of the next; otherwise only the last turn is.
Tool-call arguments are JSON text in our samples (OpenAI format); HF templates want dicts. A sample
in the Alpaca format is rendered with that format's template instead (samples/prompts.py).

Large splits are cut into chunks tokenized by several processes (`workers`); the rows go into an
Arrow-backed DatasetDict saved with save_to_disk.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from t2s_pipeline.records import write_json
from t2s_pipeline.samples.prompts import sample_template

IGNORE_INDEX = -100
BATCH_SIZE = 512  # conversations per fast-tokenizer call
PARALLEL_MIN_SAMPLES = 4096  # smaller splits are done in this process: a pool costs more than it saves


_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
# Passed to every chat template, in training, generation and GRPO alike. SQL answers are asked for with thinking
# off: Qwen3's template then writes the empty <think>\n\n</think>\n\n into the generation prompt, so it is
# prompt (masked) in training and the same prompt at inference. Templates without the flag ignore it.
CHAT_TEMPLATE_KWARGS = {"enable_thinking": False}


def has_generation_markers(tokenizer) -> bool:
    return _template_marks_turns(tokenizer.chat_template or "")


def _template_marks_turns(chat_template: str) -> bool:
    return bool(_GENERATION_MARKER.search(chat_template))


def hf_messages(messages: list[dict]) -> list[dict]:
    """The messages as Hugging Face chat templates read them: tool-call arguments as dicts."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = dict(call["function"])
                if isinstance(function.get("arguments"), str):
                    function["arguments"] = json.loads(function["arguments"] or "{}")
                calls.append({**call, "function": function})
            message = {**message, "tool_calls": calls}
        out.append(message)
    return out


def render(tokenizer, messages: list[dict], tools: list | None = None,
           add_generation_prompt: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The conversation's text under the chat template, and the (start, end) characters of each
    assistant turn to learn."""
    return _render(tokenizer.chat_template, tokenizer.special_tokens_map, messages, tools, add_generation_prompt)


def _render(chat_template: str, special_tokens: dict, messages: list[dict], tools: list | None = None,
            add_generation_prompt: bool = False) -> tuple[str, list[tuple[int, int]]]:
    from transformers.utils.chat_template_utils import render_jinja_template

    messages = hf_messages(messages)
    kwargs = dict(chat_template=chat_template, tools=tools or None, **special_tokens, **CHAT_TEMPLATE_KWARGS)
    if _template_marks_turns(chat_template):
        texts, spans = render_jinja_template([messages], return_assistant_tokens_mask=True,
                                             add_generation_prompt=add_generation_prompt, **kwargs)
        return texts[0], _learned(messages, [tuple(s) for s in spans[0]])

    def text(upto: int, prompt: bool) -> str:
        return render_jinja_template([messages[:upto]], add_generation_prompt=prompt, **kwargs)[0][0]

    full = text(len(messages), add_generation_prompt)
    turns = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
    spans = []
    for k in turns:
        start, end = text(k, True), text(k + 1, False)
        if not (end.startswith(start) and full.startswith(end)):
            spans = []  # the template rewrites earlier turns (e.g. drops past reasoning): last turn only
            break
        spans.append((len(start), len(end)))
    if not spans and turns and turns[-1] == len(messages) - 1:
        start = text(len(messages) - 1, True)
        if full.startswith(start):
            spans = [(len(start), len(full))]
    return full, _learned(messages, spans)


def _learned(messages: list[dict], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans of the assistant turns to learn: one with "train": false (a repair conversation's near miss,
    samples/repairs.py) is shown to the model but not learned."""
    turns = [m for m in messages if m["role"] == "assistant"]
    if len(turns) != len(spans):
        return spans  # only the last turn is learned (a template that rewrites earlier turns)
    return [span for span, m in zip(spans, turns) if m.get("train", True)]


def _unpadded_copy(backend):
    """A copy of the Rust tokenizer without padding or truncation: a padded call through the HF tokenizer
    (generation pads batches on the left) leaves padding switched on in the shared backend."""
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    copy.no_truncation()
    return copy


class _Encoder:
    """What tokenizing needs, picklable for worker processes: the template, the special tokens and
    the fast tokenizer's Rust backend (workers then need not import the rest of transformers)."""

    def __init__(self, tokenizer):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{tokenizer.name_or_path}: tokenizing needs a fast tokenizer (tokenizer.json)")
        if not tokenizer.chat_template:
            raise ValueError(f"{tokenizer.name_or_path}: the tokenizer has no chat template")
        self.chat_template, self.special_tokens = tokenizer.chat_template, dict(tokenizer.special_tokens_map)
        self.backend = _unpadded_copy(tokenizer.backend_tokenizer)

    def __getstate__(self):
        return {**self.__dict__, "backend": self.backend.to_str()}

    def __setstate__(self, state):
        from tokenizers import Tokenizer

        self.__dict__.update(state, backend=Tokenizer.from_str(state["backend"]))

    def encode(self, samples: list[dict]) -> list[tuple]:
        """(input_ids, labels) of each sample as int32 numpy arrays."""
        rendered = [_render(sample_template(s) or self.chat_template, self.special_tokens, s["messages"],
                            s.get("tools")) for s in samples]
        encodings = self.backend.encode_batch([text for text, _ in rendered], add_special_tokens=False)
        return [_ids_and_labels(encoding, spans) for encoding, (_, spans) in zip(encodings, rendered)]


def _ids_and_labels(encoding, spans: list[tuple[int, int]]) -> tuple:
    import numpy as np

    ids = np.asarray(encoding.ids, dtype=np.int32)
    labels = np.full(len(ids), IGNORE_INDEX, dtype=np.int32)
    for start, end in spans:
        first = next((t for c in range(start, end) if (t := encoding.char_to_token(c)) is not None), None)
        last = next((t for c in range(end - 1, start - 1, -1) if (t := encoding.char_to_token(c)) is not None), None)
        if first is not None and last is not None:
            labels[first:last + 1] = ids[first:last + 1]
    return ids, labels


def tokenize_batch(tokenizer, samples: list[dict]) -> list[dict]:
    """input_ids, attention_mask and labels for each sample ({"messages", "tools"?, "format"?}), in one
    tokenizer call. A sample in the `alpaca` format is rendered with that format's template."""
    return [{"input_ids": ids.tolist(), "attention_mask": [1] * len(ids), "labels": labels.tolist()}
            for ids, labels in _Encoder(tokenizer).encode(samples)]


def tokenize_sample(tokenizer, messages: list[dict], tools: list | None = None) -> dict:
    """input_ids, attention_mask and labels for one conversation."""
    return tokenize_batch(tokenizer, [{"messages": messages, "tools": tools}])[0]


def _tokenize_lines(encoder: _Encoder, lines: list[str], max_length: int) -> dict:
    """Tokenize JSONL lines into flat numpy columns (cheap to send between processes and to turn
    into Arrow lists): ids and labels of the kept rows end to end, each row's length, its id."""
    import numpy as np

    ids, labels, lengths, row_ids = [], [], [], []
    dropped = 0
    for k in range(0, len(lines), BATCH_SIZE):
        samples = [json.loads(line) for line in lines[k:k + BATCH_SIZE]]
        for sample, (sample_ids, sample_labels) in zip(samples, encoder.encode(samples)):
            if len(sample_ids) > max_length:
                dropped += 1
                continue
            if not (sample_labels != IGNORE_INDEX).any():
                raise ValueError(f"sample {sample['meta'].get('id')} has no assistant tokens to learn")
            ids.append(sample_ids)
            labels.append(sample_labels)
            lengths.append(len(sample_ids))
            row_ids.append(sample["meta"]["id"])
    flat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32))
    return {"input_ids": flat(ids), "labels": flat(labels), "lengths": np.asarray(lengths, dtype=np.int64),
            "id": row_ids, "dropped": dropped}


def _tokenize_split(path: Path, encoder: _Encoder, max_length: int, workers: int) -> dict:
    import numpy as np

    lines = [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if workers <= 1 or len(lines) < PARALLEL_MIN_SAMPLES:
        parts = [_tokenize_lines(encoder, lines, max_length)]
    else:
        size = -(-len(lines) // (workers * 4))
        chunks = [lines[k:k + size] for k in range(0, len(lines), size)]
        # forkserver: forking a process that runs threads (Dagster's, the tokenizer's) can deadlock.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "transformers.utils.chat_template_utils"])
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_tokenize_lines, [encoder] * len(chunks), chunks, [max_length] * len(chunks)))
    return {"input_ids": np.concatenate([p["input_ids"] for p in parts]),
            "labels": np.concatenate([p["labels"] for p in parts]),
            "lengths": np.concatenate([p["lengths"] for p in parts]),
            "id": [i for p in parts for i in p["id"]],
            "dropped": sum(p["dropped"] for p in parts)}


def _arrow_split(part: dict):
    """The split as a datasets.Dataset over Arrow list columns built from the flat arrays (no copy per row)."""
    import numpy as np
    import pyarrow as pa
    from datasets import Dataset
    from datasets.table import InMemoryTable

    offsets = pa.array(np.concatenate([[0], np.cumsum(part["lengths"])]).astype(np.int32))
    ones = np.ones(len(part["input_ids"]), dtype=np.int8)
    table = pa.table({
        "input_ids": pa.ListArray.from_arrays(offsets, pa.array(part["input_ids"])),
        "attention_mask": pa.ListArray.from_arrays(offsets, pa.array(ones)),
        "labels": pa.ListArray.from_arrays(offsets, pa.array(part["labels"])),
        "id": pa.array(part["id"], type=pa.string()),
    })
    return Dataset(InMemoryTable(table))


def tokenize_splits(trajectories_dir: str | Path, model_dir: str | Path, out_dir: str | Path, max_length: int = 1024,
                    log=print, workers: int | None = None) -> dict:
    """Tokenize train/dev/test JSONL into a DatasetDict saved with save_to_disk. Over-length samples are dropped and counted.

    workers: processes for a large split (default: every core); small splits run in this process.
    """
    from datasets import DatasetDict
    from transformers import AutoTokenizer

    from t2s_pipeline.modeling.model_folder import is_encoder_decoder

    if is_encoder_decoder(model_dir):  # T5: prompt to the encoder, SQL to the decoder
        from t2s_pipeline.modeling.tokenize_seq2seq import tokenize_seq2seq_splits

        return tokenize_seq2seq_splits(trajectories_dir, model_dir, out_dir, max_length=max_length, log=log)
    start = time.monotonic()
    encoder = _Encoder(AutoTokenizer.from_pretrained(model_dir))
    workers = workers or os.cpu_count() or 1
    splits, stats = {}, {"max_length": max_length, "splits": {}}
    for split in ("train", "dev", "test"):
        part = _tokenize_split(Path(trajectories_dir) / f"{split}.jsonl", encoder, max_length, workers)
        splits[split] = _arrow_split(part)
        lengths = part["lengths"]
        stats["splits"][split] = {
            "samples": len(lengths),
            "dropped_over_length": part["dropped"],
            "tokens": int(lengths.sum()),
            "supervised_tokens": int((part["labels"] != IGNORE_INDEX).sum()),
            "max_tokens": int(lengths.max(initial=0)),
            "mean_tokens": round(float(lengths.mean()), 1) if len(lengths) else 0,
        }
        log(f"tokenized {split}: {len(lengths)} samples kept, {part['dropped']} over {max_length} tokens dropped")
    # One shard per split: an empty split saved with zero shards cannot be loaded back.
    DatasetDict(splits).save_to_disk(str(out_dir), num_shards={name: 1 for name in splits})
    stats["seconds"] = round(time.monotonic() - start, 2)
    write_json(Path(out_dir) / "stats.json", stats)
    return stats
