"""SQL generation: batched greedy decoding with left padding, stopping at the end-of-turn token.

Encoder-decoder models (T5, read from the model's config) get the encoder prompt (samples/prompts.py)
and their decoder's whole output is the reply.

Options: beam search (`num_beams`), and for pipe-trained models an incremental mode that asks for
one pipe operator at a time until the model ends the query. SQL is taken out of a markdown code
block when the model writes one. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from t2s_pipeline.modeling.model_folder import is_full_model
from t2s_pipeline.modeling.agent_constraint import TOOL_CALL_OPENER
from t2s_pipeline.modeling.tokenize import CHAT_TEMPLATE_KWARGS

_SQL_BLOCK = re.compile(r"```(?:sqlite|sql)?\s*(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
# End-of-turn tokens of the common chat templates (ChatML/Qwen, Llama 3, Gemma, Phi-3, Mistral).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>", "<|endoftext|>")
PIPE = "|>"


def strip_thinking(text: str) -> str:
    """The reply without the reasoning a thinking model writes before its answer (Qwen3's <think>...</think>,
    empty or not): what follows the last </think> (also when the prompt opened the block), and nothing of a
    block the length limit cut before </think>. Eval, the RL reward and `t2s ask` read SQL from what is left."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1].strip()
    return text.split("<think>", 1)[0].strip() if "<think>" in text else text


def extract_sql(text: str) -> str:
    """The SQL in a reply (its <think> block stripped first, and any tool call it goes on to: a model trained on
    check conversations runs its answer): the content of a markdown code block when there is one, else the text."""
    text = strip_thinking(text).split(TOOL_CALL_OPENER, 1)[0]
    match = _SQL_BLOCK.search(text)
    sql = match.group(1) if match else text
    return sql.strip().rstrip(";").strip()


def load_model(model_dir: str, adapter_dir: str | None = None):
    """A causal LM or an encoder-decoder model (from its config) and its tokenizer, with a LoRA adapter
    applied when one is given (the adapter's tokenizer when it saved one, else the model's). An
    `adapter_dir` that holds a whole model (full fine-tuning) is loaded instead of the base. On a GPU the
    model goes there in bf16 (fp16 where bf16 is not supported); on a CPU it stays in fp32."""
    from pathlib import Path

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    full_model = adapter_dir and is_full_model(adapter_dir)
    source = adapter_dir if full_model else model_dir
    has_tokenizer = adapter_dir and (Path(adapter_dir) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir if has_tokenizer else model_dir)
    seq2seq = getattr(AutoConfig.from_pretrained(source), "is_encoder_decoder", False)
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(
        source, dtype=dtype, device_map={"": 0} if cuda else None)
    if adapter_dir and not full_model:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    return model, tokenizer


def is_seq2seq(model) -> bool:
    """An encoder-decoder model (T5), read from its config (through a PEFT wrapper too)."""
    return bool(getattr(model.config, "is_encoder_decoder", False))


def default_num_beams(model) -> int:
    """5 beams for encoder-decoder models (what T5 text-to-SQL systems use), greedy for the others."""
    return 5 if is_seq2seq(model) else 1


def _encode_seq2seq(tokenizer, texts: list[str], device=None):
    """Encoder inputs as tokenize_seq2seq made them for training: the text and EOS, padded on the right (on the
    model's device)."""
    import torch

    rows = [ids + [tokenizer.eos_token_id] for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    return {"input_ids": ids, "attention_mask": mask}


def _complete_seq2seq(model, tokenizer, conversations: list[list[dict]], batch_size: int, max_new_tokens: int,
                      num_beams: int, contexts: list | None = None) -> list[str]:
    """The decoder's reply to each conversation's encoder prompt (samples/prompts.encoder_prompt), under the
    SQL constraint when contexts are given: the processor reads the decoder's tokens, which start with the
    one decoder start token (the prompt is in the encoder), and each beam of a prompt reads its context."""
    import torch

    from t2s_pipeline.samples.prompts import encoder_prompt

    texts = [encoder_prompt(c) for c in conversations]
    outputs: list[str] = []
    token_texts: dict[int, str] = {}  # the constraint's decoded tokens, kept from batch to batch
    for i in range(0, len(texts), batch_size):
        batch = _encode_seq2seq(tokenizer, texts[i : i + batch_size], model.device)
        options = dict(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, use_cache=True)
        if num_beams > 1:
            options.update(num_beams=num_beams, early_stopping=True)
        if contexts is not None:
            options["logits_processor"] = _constraint(tokenizer, contexts[i : i + batch_size], 1, num_beams,
                                                      token_texts, end_ids=[tokenizer.eos_token_id])
        with torch.no_grad():
            generated = model.generate(**batch, **options)
        outputs.extend(tokenizer.batch_decode(generated, skip_special_tokens=True))
    return outputs


def _constraint(tokenizer, contexts: list, prompt_width: int, rows_per_context: int, token_texts: dict,
                end_ids: list[int] | None = None):
    """The contexts' constraint as generate's logits processor (SqlConstraint for hand-rule contexts; the grammar,
    or both, through modeling/constraint.py): the query so far is each row after prompt_width tokens."""
    from transformers import LogitsProcessorList

    from t2s_pipeline.modeling.sql_context import SqlContext

    if contexts and not isinstance(contexts[0], SqlContext):
        from t2s_pipeline.modeling.constraint import constraint_processor

        return LogitsProcessorList([constraint_processor(tokenizer, contexts, prompt_width, rows_per_context,
                                                         end_ids or stop_token_ids(tokenizer),
                                                         {"token_texts": token_texts})])

    if rows_per_context == 1 and end_ids is None and TOOL_CALL_OPENER in str(tokenizer.chat_template or ""):
        # A chat model that may have learned to run its answer (check conversations): a tool call may open where
        # the query may end, instead of being cut into junk SQL by the rules; extract_sql keeps the text before it.
        from t2s_pipeline.modeling.agent_constraint import AgentReplyConstraint, tool_call_opener_ids

        return LogitsProcessorList([AgentReplyConstraint(tokenizer, contexts, prompt_width,
                                                         tool_call_opener_ids(tokenizer), token_texts)])
    from t2s_pipeline.modeling.constrained import SqlConstraint

    return LogitsProcessorList([SqlConstraint(tokenizer, contexts, prompt_width, rows_per_context,
                                              token_texts=token_texts, end_ids=end_ids)])


def stop_token_ids(tokenizer) -> list[int]:
    """The ids that end an assistant turn: the eos token and the template's end-of-turn tokens in the vocabulary."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in END_OF_TURN_TOKENS if t in vocab]
    return list(dict.fromkeys(ids))


def _complete(model, tokenizer, conversations: list[list[dict]], batch_size: int, max_new_tokens: int,
              num_beams: int = 1, chat_template: str | None = None, samples: int = 0, temperature: float = 1.0,
              top_p: float = 1.0, contexts: list | None = None) -> list[str]:
    """The raw reply (special tokens removed) to each conversation, batched with left padding. samples > 0
    draws that many replies per conversation by sampling instead (consecutive in the output). contexts: one
    SqlContext per conversation to constrain decoding with (constrained.py; for both kinds of model)."""
    import torch

    if is_seq2seq(model):
        if samples:  # the replies would come one per conversation, and be grouped n to a conversation
            raise ValueError("sampling several replies per prompt (self-consistency, sampled EX) is for decoder-only "
                             "models; this model is an encoder-decoder one: decode with beams instead")
        return _complete_seq2seq(model, tokenizer, conversations, batch_size, max_new_tokens, num_beams, contexts)

    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    stops = stop_token_ids(tokenizer)
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True, chat_template=chat_template,
                                             **CHAT_TEMPLATE_KWARGS) for c in conversations]
    outputs: list[str] = []
    token_texts: dict[int, str] = {}  # the constraint's decoded tokens, kept from batch to batch
    for i in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[i : i + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)  # the model's device: a trainer's may be a GPU
        # repetition_penalty 1: hub generation_config.json files set one (Qwen2.5-Coder 1.1), which would make
        # "greedy" something else than the published greedy figures.
        options = dict(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                       pad_token_id=tokenizer.pad_token_id, repetition_penalty=1.0)
        if samples:
            options.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                           num_return_sequences=samples)
        elif num_beams > 1:
            options.update(num_beams=num_beams, early_stopping=True)
        if not getattr(model.config, "use_cache", True):
            options["use_cache"] = True  # a model loaded for training has the cache off
        if contexts is not None:
            options["logits_processor"] = _constraint(tokenizer, contexts[i : i + batch_size],
                                                      batch["input_ids"].shape[1], samples or num_beams, token_texts)
        with torch.no_grad():
            generated = model.generate(**batch, **options)
        new_tokens = generated[:, batch["input_ids"].shape[1]:]
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs


def generate_sql(model, tokenizer, conversations: list[list[dict]], batch_size: int = 16, max_new_tokens: int = 128,
                 num_beams: int = 1, chat_template: str | None = None, contexts: list | None = None) -> list[str]:
    """One SQL string per conversation (system + user turns): greedy decoding, or beam search when num_beams > 1.
    chat_template: a template other than the tokenizer's (the Alpaca format's). contexts: one context per
    conversation to constrain the SQL with (constraint.py: the database's grammar or the hand rules)."""
    replies = _complete(model, tokenizer, conversations, batch_size, max_new_tokens, num_beams, chat_template,
                        contexts=contexts)
    return [extract_sql(r) for r in replies]


def sample_replies(model, tokenizer, conversations: list[list[dict]], n: int, batch_size: int = 16,
                   max_new_tokens: int = 128, temperature: float = 1.0, top_p: float = 1.0,
                   chat_template: str | None = None, contexts: list | None = None) -> list[list[str]]:
    """n raw replies per conversation drawn by sampling (temperature, top_p), constrained by contexts if given."""
    replies = _complete(model, tokenizer, conversations, max(1, batch_size // n), max_new_tokens,
                        chat_template=chat_template, samples=n, temperature=temperature, top_p=top_p,
                        contexts=contexts)
    return [replies[i * n:(i + 1) * n] for i in range(len(conversations))]


def sample_sql(model, tokenizer, conversations: list[list[dict]], n: int, batch_size: int = 16,
               max_new_tokens: int = 128, temperature: float = 1.0, top_p: float = 1.0,
               chat_template: str | None = None, contexts: list | None = None) -> list[list[str]]:
    """n SQL strings per conversation drawn by sampling (temperature, top_p), constrained by contexts if given."""
    return [[extract_sql(r) for r in group] for group in sample_replies(
        model, tokenizer, conversations, n, batch_size, max_new_tokens, temperature, top_p, chat_template, contexts)]


def step_conversation(conversation: list[dict], query_so_far: str) -> list[dict]:
    """The prompt for the next pipe operator, in the format of the `pipe_step` training samples
    (samples/steps.py): the step system prompt, and the user turn of the question with
    "Query so far:" and the operators so far ("(empty)" before the first)."""
    from t2s_pipeline.samples.steps import EMPTY_QUERY, STEP_SYSTEM_PROMPT

    *head, user = conversation
    head = [{**m, "content": STEP_SYSTEM_PROMPT} if m["role"] == "system" else m for m in head]
    if not any(m["role"] == "system" for m in head):
        head = [{"role": "system", "content": STEP_SYSTEM_PROMPT}, *head]
    return [*head, {**user, "content": f"{user['content']}\n\nQuery so far:\n{query_so_far or EMPTY_QUERY}"}]


def generate_incremental(model, tokenizer, conversations: list[list[dict]], batch_size: int = 16,
                         max_new_tokens: int = 64, max_steps: int = 12,
                         step_prompt: Callable[[list[dict], str], list[dict]] = step_conversation) -> list[str]:
    """Pipe SQL built one operator at a time, for models trained on `pipe_step` samples.

    conversations are the whole-query prompts (system + user: schema, question, evidence). Each round
    asks every unfinished question for its next operator (`FROM ...` first, then `|> ...`) and
    appends it; a question is done when its reply ends with `;` (the training format's end of the
    query), or is empty, or is not a pipe operator, or repeats the last one, or after max_steps.
    """
    queries = [""] * len(conversations)
    last = [""] * len(conversations)
    active = list(range(len(conversations)))
    for step in range(max_steps):
        if not active:
            break
        replies = _complete(model, tokenizer, [step_prompt(conversations[i], queries[i]) for i in active],
                            batch_size, max_new_tokens)
        still = []
        for i, reply in zip(active, replies):
            op = extract_sql(reply)
            ended = reply.strip().strip("`").strip().endswith(";")
            if not op or (step > 0 and (not op.startswith(PIPE) or op == last[i])):
                continue  # the model ended the query, or wrote something that is not the next operator
            queries[i] = f"{queries[i]}\n{op}" if queries[i] else op
            last[i] = op
            if not ended:
                still.append(i)
        active = still
    return queries


def masked_losses(model, tokenizer, samples: list[dict], batch_size: int = 16) -> list[tuple[float, int]]:
    """Per sample: the summed cross-entropy over its assistant tokens (prompt masked) and their count.
    For an encoder-decoder model: over the decoder's answer and its EOS."""
    import torch

    if is_seq2seq(model):
        return _seq2seq_losses(model, tokenizer, samples, batch_size)

    from t2s_pipeline.modeling.tokenize import IGNORE_INDEX, tokenize_batch

    rows = tokenize_batch(tokenizer, samples)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[tuple[float, int]] = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in chunk])
        mask = torch.tensor([r["attention_mask"] + [0] * (width - len(r["input_ids"])) for r in chunk])
        labels = torch.tensor([r["labels"] + [IGNORE_INDEX] * (width - len(r["input_ids"])) for r in chunk])
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits[:, :-1].float()
        target = labels[:, 1:].to(logits.device)
        loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
        sums = loss.sum(dim=1).tolist()
        counts = (target != IGNORE_INDEX).sum(dim=1).tolist()
        out.extend((float(s), int(n)) for s, n in zip(sums, counts))
    return out


def masked_loss(model, tokenizer, samples: list[dict], batch_size: int = 16) -> float | None:
    """Mean cross-entropy over assistant tokens only (prompt masked), the figure perplexity is taken from."""
    per_sample = masked_losses(model, tokenizer, samples, batch_size)
    total, tokens = sum(s for s, _ in per_sample), sum(n for _, n in per_sample)
    return total / tokens if tokens else None


def _seq2seq_losses(model, tokenizer, samples: list[dict], batch_size: int) -> list[tuple[float, int]]:
    import torch

    from t2s_pipeline.modeling.tokenize import IGNORE_INDEX
    from t2s_pipeline.modeling.tokenize_seq2seq import encode_pairs, source_and_target

    pairs = [source_and_target(s) or ("", "") for s in samples]
    rows = encode_pairs(tokenizer, pairs)
    out: list[tuple[float, int]] = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        batch = _encode_seq2seq(tokenizer, [p[0] for p in pairs[i : i + batch_size]], model.device)
        width = max(len(labels) for _, labels in chunk)
        labels = torch.tensor([labels + [IGNORE_INDEX] * (width - len(labels)) for _, labels in chunk]).to(model.device)
        with torch.no_grad():
            logits = model(**batch, labels=labels).logits.float()
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX,
                                                 reduction="none")
        out.extend((float(s), int(n)) for s, n in zip(loss.sum(dim=1).tolist(),
                                                      (labels != IGNORE_INDEX).sum(dim=1).tolist()))
    return out
