"""The base_model artifact: the tiny default built here, a local model folder, or a hub model id."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from t2s_pipeline.records import read_jsonl
from t2s_pipeline.samples.literal_swap import pair_keys, string_literals, swap_literals
from t2s_pipeline.samples.prompts import SYSTEM_PROMPT
from t2s_pipeline.samples.trajectories import held_out_pair_keys, whole_query_samples
from t2s_pipeline.modeling.model_folder import architecture
from t2s_pipeline.training.tiny_model import TinyModelConfig, build_tiny_base

TINY = "tiny"
TINY_T5 = "tiny-t5"
# Hub models whose id has no owner part; the hub serves them under these full ids.
HUB_SHORT_NAMES = {"t5-small": "google-t5/t5-small", "t5-base": "google-t5/t5-base"}


def pretraining_documents(trajectories_dir: str | Path, literal_variants: int = 0, seed: int = 0) -> list[str]:
    """Plain-text documents from the train split: each schema once, and each question with its SQL
    (or pipe SQL) from the whole-query samples, plus `literal_variants` literal-swapped copies of each
    pair whose question states its literals (samples/literal_swap.py).

    Like a code model that has read SQL next to questions but was never tuned to answer in a
    chat, the tiny base learns the language of the task; fine-tuning teaches it to answer from a
    schema in the chat format. Schemas appear once each, not once per question, which keeps
    the documents short and pretraining fast. Only the train split is used, and a swapped copy
    that happens to write a dev or test question or query (LIMIT 3 swapped to a held-out LIMIT 5)
    is left out.
    """
    schemas, pairs = {}, []
    for sample in whole_query_samples(trajectories_dir, "train"):
        turns = {m["role"]: m["content"] for m in sample["messages"]}
        schema, _, question = turns["user"].partition("\n\nQuestion: ")
        schemas[sample["meta"]["db_id"]] = schema
        pairs.append((question, turns["assistant"]))
    held_out = held_out_pair_keys(trajectories_dir) if literal_variants else set()
    rng, pool = random.Random(seed), string_literals([sql for _, sql in pairs])
    swapped = [swap for q, sql in pairs for _ in range(literal_variants)
               if (swap := swap_literals(q, sql, pool, rng)) and not held_out & pair_keys(*swap)]
    return [SYSTEM_PROMPT, *schemas.values(), *(f"Question: {q}\nSQL: {sql}" for q, sql in pairs + swapped)]


def tool_conversations(trajectories_dir: str | Path) -> list[dict]:
    """The train split's tool-calling and repair conversations (none unless trajectories made them)."""
    path = Path(trajectories_dir) / "train.jsonl"
    return [s for s in read_jsonl(path) if s["meta"]["kind"] in ("tool_call", "repair")] if path.is_file() else []


def prepare_base_model(source: str, trajectories_dir: str | Path, out_dir: str | Path,
                       tiny: TinyModelConfig | None = None, log=print, tiny_t5=None) -> dict:
    """Write a Hugging Face model folder into out_dir and describe it. Decoder-only and encoder-decoder
    models alike; `architecture` says which (read from the model's config)."""
    out_dir = Path(out_dir)
    if source == TINY:
        tiny = tiny or TinyModelConfig()
        documents = pretraining_documents(trajectories_dir, tiny.literal_variants, tiny.seed)
        stats = build_tiny_base(documents, out_dir, tiny, log=log, conversations=tool_conversations(trajectories_dir))
        return {"source": TINY, "architecture": architecture(out_dir), **stats}
    if source == TINY_T5:
        from t2s_pipeline.training.tiny_t5 import TinyT5Config, build_tiny_t5

        tiny_t5 = tiny_t5 or TinyT5Config()
        documents = pretraining_documents(trajectories_dir, tiny_t5.literal_variants, tiny_t5.seed)
        stats = build_tiny_t5(documents, out_dir, tiny_t5, log=log)
        return {"source": TINY_T5, "architecture": architecture(out_dir), **stats}
    stats = _copy_or_download(source, out_dir, log)
    # t5-small cannot write `<`, `{` or `}`: tokens for what the train texts need are added before training.
    from t2s_pipeline.modeling.vocabulary import add_missing_characters

    stats.update(add_missing_characters(out_dir, pretraining_documents(trajectories_dir), log=log))
    return {**stats, "architecture": architecture(out_dir)}


def _copy_or_download(source: str, out_dir: Path, log) -> dict:
    local = Path(source).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"base model folder {local} has no config.json")
        shutil.copytree(local, out_dir, dirs_exist_ok=True)
        log(f"base model copied from {local}")
        return {"source": str(local.resolve())}
    if "/" not in source:
        if source in HUB_SHORT_NAMES:  # hub ids without an owner (t5-small) are only accepted by name
            source = HUB_SHORT_NAMES[source]
        else:
            raise ValueError(f"base model {source!r} is neither 'tiny', 'tiny-t5', an existing folder, nor a hub id "
                             "like 'Qwen/Qwen2.5-Coder-1.5B-Instruct' or 't5-small'")
    from huggingface_hub import snapshot_download  # only real runs reach the hub

    log(f"downloading {source} from the Hugging Face hub")
    snapshot_download(repo_id=source, local_dir=out_dir,
                      allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    if not any(out_dir.glob("*.safetensors")):  # older repos (t5-small) may keep only pytorch_model.bin
        snapshot_download(repo_id=source, local_dir=out_dir, allow_patterns=["*.bin"])
    return {"source": source}
