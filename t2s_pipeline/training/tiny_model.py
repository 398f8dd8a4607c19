"""The embedded default base model: a tiny Llama built from a config, with a locally trained tokenizer.

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the training texts; its chat
template wraps assistant turns (and their end token) in generation markers so prompt masking can
find them. A random network cannot be adapted by LoRA, so the base is briefly pretrained on
unpaired documents (schemas, questions, SQL on their own): it learns the language of the task but
not the mapping from question to SQL, which is what fine-tuning then adds.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from t2s_pipeline.modeling.decoding import write_decoding_default

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

# ChatML with {% generation %} markers around the assistant content and its end token. With tools
# (OpenAI format), as Qwen2.5 does: their JSON schemas in the system turn, each call as
# <tool_call>{"name", "arguments"}</tool_call> in the assistant turn, results in `tool` turns.
CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{ '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{ '# Tools\\n<tools>\\n' }}{%- for tool in tools %}{{ tool | tojson }}{{ '\\n' }}{%- endfor %}"
    "{{ '</tools><|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (tools and loop.first and message['role'] == 'system') %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] or '' }}"
    "{%- for call in message['tool_calls'] or [] %}"
    "{{ '<tool_call>\\n{\"name\": \"' + call['function']['name'] + '\", \"arguments\": ' }}"
    "{{ call['function']['arguments'] | tojson }}{{ '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{ '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass
class TinyModelConfig:
    vocab_size: int = 2048  # the mini benchmark's texts saturate near 1,500 merges
    hidden_size: int = 192
    num_layers: int = 3
    num_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 2048  # tool and repair conversations run to about 1,300 tokens
    # Many small steps beat few large ones at equal compute: 2,000 steps of 6 rows reach held-out EX 0.632
    # (prompted as "Question: ...\nSQL:"), 1,000 of 12 0.599, 500 of 24 0.456 (README, "Measured").
    pretrain_steps: int = 2000
    pretrain_lr: float = 2e-3
    pretrain_batch_size: int = 6  # packed rows per step
    pretrain_row_length: int = 128  # tokens per packed row: 768 tokens a step, none of them padding
    literal_variants: int = 3  # literal-swapped copies of each train pair in the pretraining documents
    # Tool conversations among the pretraining documents (all of them train the tokenizer): enough to train the
    # embeddings of the tool calls' tokens. All 438 of the demo's (conversations of style explore) made half the
    # pretraining tokens, and single-turn EX fell from 0.780 to 0.527.
    pretrain_conversations: int = 64
    seed: int = 0


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with the chat special tokens, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token=IM_END, pad_token=PAD, chat_template=CHAT_TEMPLATE
    )


def build_model(tokenizer, cfg: TinyModelConfig):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)


def packed_rows(encoded: list[list[int]], length: int, rng: random.Random):
    """Endless rows of `length` tokens: the documents, shuffled each pass and joined end to end.
    Packing wastes no compute on padding (padded batches of these documents were 64% padding)."""
    if not any(encoded):
        raise ValueError("no pretraining text: every document is empty")
    stream: list[int] = []
    while True:
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for i in order:
            stream.extend(encoded[i])
            while len(stream) >= length:
                yield stream[:length]
                del stream[:length]


def pretrain(model, tokenizer, documents: list[str], cfg: TinyModelConfig, log=print) -> list[float]:
    """A short unmasked language-model pass over the documents, packed into full rows; returns the loss per step."""
    import torch

    rng = random.Random(cfg.seed)
    eos = tokenizer.eos_token_id
    encoded = [ids + [eos] for ids in tokenizer(documents)["input_ids"] if ids]
    rows = packed_rows(encoded, cfg.pretrain_row_length, rng)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.0)
    warmup = max(1, cfg.pretrain_steps // 10)
    schedule = lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / cfg.pretrain_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses = []
    for step in range(cfg.pretrain_steps):
        input_ids = torch.tensor([next(rows) for _ in range(cfg.pretrain_batch_size)])
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % max(1, cfg.pretrain_steps // 10) == 0 or step == cfg.pretrain_steps - 1:
            log(f"tiny base pretraining step {step + 1}/{cfg.pretrain_steps} loss {loss.item():.3f}")
    model.eval()
    return losses


def build_tiny_base(documents: list[str], out_dir: str | Path, cfg: TinyModelConfig | None = None, log=print,
                    conversations: list[dict] = ()) -> dict:
    """Train the tokenizer, build and briefly pretrain the model, save a Hugging Face folder. Returns stats.

    conversations: the train split's tool and repair samples. Rendered by the chat template, they join the
    tokenizer's documents (without them the tools' JSON took 1.5 characters a token: a tool conversation of
    style explore 1,477 tokens, 705 with them), and cfg.pretrain_conversations of them, drawn with the seed,
    join the pretraining documents (or the tokens of tool calls would never be trained)."""
    import torch

    cfg = cfg or TinyModelConfig()
    out_dir = Path(out_dir)
    start = time.monotonic()
    torch.manual_seed(cfg.seed)
    tokenizer = train_tokenizer(documents, cfg.vocab_size)
    if conversations:
        from t2s_pipeline.modeling.tokenize import render

        rendered = [render(tokenizer, c["messages"], c.get("tools"))[0] for c in conversations]
        tokenizer = train_tokenizer(documents + rendered, cfg.vocab_size)
        documents = documents + random.Random(cfg.seed).sample(rendered, min(cfg.pretrain_conversations, len(rendered)))
    model = build_model(tokenizer, cfg)
    losses = pretrain(model, tokenizer, documents, cfg, log=log) if cfg.pretrain_steps else []
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # Measured on this model (README, "Constrained decoding"): the constraint raises its EX; hub models go without.
    write_decoding_default(out_dir, constraint="rules",
                           why="the hand-written constraint was measured to help the tiny model")
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_documents": len(documents),
        "tokenizer_conversations": len(conversations),
        "pretrain_first_loss": losses[0] if losses else None,
        "pretrain_last_loss": losses[-1] if losses else None,
        "seconds": round(time.monotonic() - start, 1),
        "config": asdict(cfg),
    }
