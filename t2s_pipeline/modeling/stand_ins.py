"""Hub-shaped stand-ins: small random-weight model folders laid out as the hub models the presets name.

Nothing is downloaded. Each stand-in has its family's architecture class and config fields, the family's
real chat template (read from the files TRL ships, which TRL's weekly check keeps identical to the hub's),
a tokenizer of the family's class and kind (byte-level BPE with Qwen2's split rules for Qwen; a
SentencePiece-style unigram vocabulary for T5) carrying the family's added tokens, and the hub's
generation_config.json. `base_model: {model: <folder>}` takes it as it takes the downloaded model, so the
whole chain of a hub preset runs here, with only the width, the vocabulary and the step counts small.

What a stand-in cannot tell: anything learned (its weights are random) and speed at the real width
(bench/gpu_day.py builds the real widths on a GPU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# The added tokens of the Qwen2.5 tokenizers, in their hub order (ids 151643...). special=False ones
# (<tool_call>...) survive decode(skip_special_tokens=True), as on the hub.
QWEN25_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
QWEN25_PLAIN = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                "<|repo_name|>", "<|file_sep|>")
QWEN3_PLAIN = QWEN25_PLAIN + ("<tool_response>", "</tool_response>", "<think>", "</think>")
# Characters t5-small's SentencePiece vocabulary lacks: `{` and `}` (C4 dropped pages holding them:
# google-research/text-to-text-transfer-transformer#390) and `<` (PICARD adds ` <=` and ` <` as tokens).
T5_MISSING_CHARACTERS = "<{}"


@dataclass(frozen=True)
class Family:
    hub_id: str
    architecture: str  # the config's architectures[0]
    model_type: str
    chat_template: str | None  # a file name in trl/chat_templates/
    tied: bool
    small_shape: dict
    real_shape: dict  # the hub config's sizes (bench/gpu_day.py builds these on a GPU)
    plain_tokens: tuple = ()
    generation_config: dict = field(default_factory=dict)  # as the hub repo's generation_config.json


# Every width a multiple of 64, as in the real models: bitsandbytes quantizes in blocks of 64 inputs, and its CPU
# path failed on a 160-wide down_proj ("shape '[64, 2]' is invalid for input of size 160").
_QWEN_SMALL = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2)
FAMILIES = {
    "qwen2.5-coder-1.5b": Family(
        "Qwen/Qwen2.5-Coder-1.5B-Instruct", "Qwen2ForCausalLM", "qwen2", "qwen2_5.jinja", True, _QWEN_SMALL,
        dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
             num_key_value_heads=2, vocab_size=151936), QWEN25_PLAIN,
        dict(do_sample=True, repetition_penalty=1.1, temperature=0.7, top_p=0.8, top_k=20)),
    "qwen2.5-coder-7b": Family(
        "Qwen/Qwen2.5-Coder-7B-Instruct", "Qwen2ForCausalLM", "qwen2", "qwen2_5.jinja", False, _QWEN_SMALL,
        dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
             num_key_value_heads=4, vocab_size=152064), QWEN25_PLAIN,
        dict(do_sample=True, repetition_penalty=1.1, temperature=0.7, top_p=0.8, top_k=20)),
    # Qwen3 sets head_dim apart from hidden/heads and normalizes q and k per head (q_norm, k_norm).
    "qwen3-8b": Family(
        "Qwen/Qwen3-8B", "Qwen3ForCausalLM", "qwen3", "qwen3.jinja", False, {**_QWEN_SMALL, "head_dim": 32},
        dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
             num_key_value_heads=8, head_dim=128, vocab_size=151936), QWEN3_PLAIN,
        dict(do_sample=True, temperature=0.6, top_p=0.95, top_k=20)),
    "t5-small": Family(
        "google-t5/t5-small", "T5ForConditionalGeneration", "t5", None, True,
        dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4),
        dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8, vocab_size=32128)),
}
# Which stand-in each hub preset's model gets.
PRESET_FAMILIES = {"qwen2.5-coder-1.5b-lora": "qwen2.5-coder-1.5b", "qwen2.5-coder-7b-qlora": "qwen2.5-coder-7b",
                   "qwen3-8b-qlora": "qwen3-8b", "rl-qwen2.5-coder-7b": "qwen2.5-coder-7b", "t5-small": "t5-small"}

# Text the tokenizer is trained on when the caller gives none: enough to merge SQL words.
DEFAULT_TEXTS = (
    "SELECT name, COUNT(*) FROM singer WHERE age > 20 AND country = 'France' GROUP BY name ORDER BY name LIMIT 3",
    "Database schema:\nCREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER)",
    "Question: How many singers are older than 20?\nFROM singer |> WHERE age > 20 |> AGGREGATE COUNT(*)",
    "You write one SQLite query that answers the question. Reply with the SQL only.",
    "Thinking about the tables: singer has the ages, so count the rows whose age is over 20.",
)


def chat_template_text(name: str) -> str:
    """A chat template as TRL ships it (trl/chat_templates/<name>): the hub's text, not a copy of ours."""
    import trl

    path = Path(trl.__file__).parent / "chat_templates" / name
    if not path.is_file():
        raise FileNotFoundError(f"TRL {trl.__version__} ships no chat template {name} (looked in {path.parent})")
    return path.read_text()


def family_of(preset_or_family: str) -> str:
    name = PRESET_FAMILIES.get(preset_or_family, preset_or_family)
    if name not in FAMILIES:
        raise ValueError(f"no hub stand-in for {preset_or_family!r}: presets {', '.join(PRESET_FAMILIES)}; "
                         f"families {', '.join(FAMILIES)}")
    return name


def build_stand_in(family: str, out_dir: str | Path, texts=None, vocab_size: int = 1024, shape: dict | None = None,
                   seed: int = 0, device: str = "cpu") -> dict:
    """Write a hub-like model folder for `family` (a FAMILIES key or a preset name) into out_dir: random
    weights in bf16 (the hub's dtype), config, tokenizer (trained on `texts`), chat template and
    generation_config. shape: config sizes over the small default (FAMILIES[...].real_shape for the real
    width; its vocab_size is then kept). Returns a description."""
    import torch

    spec = FAMILIES[family_of(family)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = list(texts or DEFAULT_TEXTS)
    if spec.model_type == "t5":
        tokenizer = _t5_tokenizer(texts, vocab_size)
    else:
        tokenizer = _qwen_tokenizer(texts, vocab_size, spec)
    config = _config(spec, tokenizer, {**spec.small_shape, **(shape or {})})
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    torch.manual_seed(seed)
    loader = AutoModelForSeq2SeqLM if spec.model_type == "t5" else AutoModelForCausalLM
    with torch.device(device):
        model = loader.from_config(config, dtype=torch.bfloat16)
    if spec.generation_config or spec.model_type != "t5":
        model.generation_config = _generation_config(spec, tokenizer)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    described = {"family": family_of(family), "stands_in_for": spec.hub_id, "architecture": spec.architecture,
                 "parameters": sum(p.numel() for p in model.parameters()), "tokenizer_size": len(tokenizer),
                 "vocab_size": config.vocab_size, "tied_embeddings": spec.tied}
    (out_dir / "stand_in.json").write_text(json.dumps(described, indent=1) + "\n")
    return described


def _config(spec: Family, tokenizer, shape: dict):
    from transformers import AutoConfig

    if spec.model_type == "t5":
        return AutoConfig.for_model(
            "t5", **{"vocab_size": _padded(len(tokenizer), 128), **shape}, num_decoder_layers=shape["num_layers"],
            relative_attention_num_buckets=32, dropout_rate=0.1, feed_forward_proj="relu", tie_word_embeddings=True,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, architectures=[spec.architecture])
    ids = tokenizer.convert_tokens_to_ids
    fields = dict(vocab_size=_padded(len(tokenizer), 128), max_position_embeddings=32768, rope_theta=1000000.0,
                  rms_norm_eps=1e-6, hidden_act="silu", use_sliding_window=False, sliding_window=None,
                  max_window_layers=shape["num_hidden_layers"], tie_word_embeddings=spec.tied,
                  bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"),
                  attention_dropout=0.0, architectures=[spec.architecture])
    if spec.model_type == "qwen3":
        fields["attention_bias"] = False  # Qwen2 has q/k/v biases built in; Qwen3 has none, and q/k norms
    return AutoConfig.for_model(spec.model_type, **{**fields, **shape})


def _generation_config(spec: Family, tokenizer):
    from transformers import GenerationConfig

    if spec.model_type == "t5":
        return GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    ids = tokenizer.convert_tokens_to_ids
    return GenerationConfig(bos_token_id=ids("<|endoftext|>"), pad_token_id=ids("<|endoftext|>"),
                            eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")], **spec.generation_config)


def _padded(n: int, multiple: int) -> int:
    """The embedding rows: the hub pads the vocabulary past the tokenizer (151936 rows for 151665 tokens)."""
    return -(-n // multiple) * multiple


def _qwen_tokenizer(texts: list[str], vocab_size: int, spec: Family):
    """A Qwen2Tokenizer (the class the hub's tokenizer_config names) over a byte-level BPE trained here with
    Qwen2's own split rules and NFC normalizer, the hub's added tokens, eos <|im_end|> and pad <|endoftext|>
    as the Instruct models set them, and the family's chat template."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    trainer_side = Tokenizer(models.BPE())
    trainer_side.normalizer = normalizers.NFC()
    trainer_side.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    trainer_side.train_from_iterator(texts, trainer)
    model = json.loads(trainer_side.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=None, bos_token=None,
                               eos_token="<|im_end|>", pad_token="<|endoftext|>", errors="replace",
                               model_max_length=32768)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN25_SPECIAL)})
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in spec.plain_tokens])
    tokenizer.chat_template = chat_template_text(spec.chat_template)
    return tokenizer


def _t5_tokenizer(texts: list[str], vocab_size: int):
    """A T5Tokenizer over a unigram vocabulary trained here (SentencePiece's model kind, with its ▁ word
    marks): <pad> 0, </s> 1, <unk> 2, 100 <extra_id_N> sentinels; the characters t5-small lacks are kept
    out, so they turn into <unk> as they do on the hub."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    missing = str.maketrans("", "", T5_MISSING_CHARACTERS)
    trainer_side = Tokenizer(models.Unigram())
    trainer_side.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
    alphabet = [chr(c) for c in range(33, 127) if chr(c) not in T5_MISSING_CHARACTERS]  # printable ASCII
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", initial_alphabet=alphabet, show_progress=False)
    trainer_side.train_from_iterator([t.translate(missing) for t in texts], trainer)
    pieces = [tuple(p) for p in json.loads(trainer_side.to_str())["model"]["vocab"]]
    # The sentinels last and in reverse, as on the hub: <extra_id_0> is the last id (32099 in t5-small).
    pieces += [(f"<extra_id_{k}>", 0.0) for k in range(99, -1, -1)]
    return T5Tokenizer(vocab=pieces, extra_ids=100, model_max_length=512)
