"""The tiny encoder-decoder base: span corruption, the built folder, and how base_model recognises it."""

from __future__ import annotations

import random

import pytest

from t2s_pipeline.modeling.model_folder import architecture, is_encoder_decoder
from t2s_pipeline.training.base_model import TINY_T5, prepare_base_model
from t2s_pipeline.training.tiny_t5 import SENTINELS, prefix_lm, span_corruption


def test_span_corruption_hides_spans_the_target_gives_back():
    ids = list(range(100, 160))
    sentinels = list(range(10, 10 + SENTINELS))
    for seed in range(20):
        inputs, target = span_corruption(ids, random.Random(seed), sentinels, eos=1, noise_density=0.15,
                                         mean_span_length=3)
        assert inputs[-1] == 1 and target[-1] == 1
        used = [t for t in inputs if t in sentinels]
        assert used and used == sentinels[:len(used)]
        # Putting each target span back at its sentinel gives the document again.
        spans, current = {}, None
        for t in target[:-1]:
            if t in sentinels:
                current = t
                spans[current] = []
            else:
                spans[current].append(t)
        restored = [x for t in inputs[:-1] for x in (spans[t] if t in sentinels else [t])]
        assert restored == ids
        hidden = sum(len(v) for v in spans.values())
        assert 0 < hidden < len(ids) // 2


def test_prefix_lm_reads_the_start_and_writes_the_rest():
    ids = list(range(100, 120))
    for seed in range(10):
        inputs, target = prefix_lm(ids, random.Random(seed), eos=1)
        assert inputs[-1] == target[-1] == 1 and inputs[:-1] + target[:-1] == ids and len(inputs) > 1


def test_tiny_t5_is_an_encoder_decoder_with_eos_and_sentinels(tiny_t5_dir):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    assert is_encoder_decoder(tiny_t5_dir) and architecture(tiny_t5_dir) == "encoder-decoder"
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
    assert model.config.decoder_start_token_id == tokenizer.pad_token_id
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") != tokenizer.unk_token_id
    text = "SELECT name FROM singer WHERE age > 30"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_the_tiny_llama_is_decoder_only(tiny_base_dir):
    assert architecture(tiny_base_dir) == "decoder-only"


def test_a_local_t5_folder_is_copied_and_recognised(tiny_t5_dir, trajectories_dir, tmp_path):
    stats = prepare_base_model(str(tiny_t5_dir), trajectories_dir, tmp_path / "out", log=lambda m: None)
    assert stats["architecture"] == "encoder-decoder"
    assert (tmp_path / "out" / "config.json").is_file()


@pytest.mark.slow
def test_prepare_builds_the_tiny_t5_by_name(trajectories_dir, tmp_path):
    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_t5 import TinyT5Config

    cfg = TinyT5Config(vocab_size=300, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2, pretrain_steps=3,
                       pretrain_batch_size=4)
    stats = prepare_base_model(TINY_T5, trajectories_dir, tmp_path, log=lambda m: None, tiny_t5=cfg)
    assert stats["source"] == TINY_T5 and stats["architecture"] == "encoder-decoder"
    assert stats["pretrain_objective"].startswith("question_to_sql (100% of pairs)") and "packed" in \
        stats["pretrain_objective"] and stats["pretrain_last_loss"] > 0
    # The literal-swapped copies of the pairs are among the documents, as for the tiny Llama.
    assert stats["pretrain_documents"] > len(pretraining_documents(trajectories_dir))


def test_an_unknown_short_name_is_refused(trajectories_dir, tmp_path):
    with pytest.raises(ValueError, match="tiny-t5"):
        prepare_base_model("t5-gigantic", trajectories_dir, tmp_path, log=lambda m: None)


def _packing_documents(rng: random.Random) -> list[list[int]]:
    """Token documents of 5 to 80 ids from 100 up, each distinct, like the pretraining documents' lengths."""
    return [[100 + d * 100 + i for i in range(rng.randint(5, 80))] for d in range(60)]


def test_packed_rows_are_full_and_each_target_stays_with_its_input():
    import itertools

    from t2s_pipeline.training.tiny_t5 import TinyT5Config, packed_pairs

    eos, sentinels = 1, list(range(10, 10 + SENTINELS))
    documents = _packing_documents(random.Random(0))
    cfg = TinyT5Config(pretrain_packed=True, pretrain_max_length=128, pretrain_target_length=64)
    rows = list(itertools.islice(packed_pairs(documents, random.Random(1), sentinels, eos, cfg), 60))
    cells = len(rows) * (cfg.pretrain_max_length + cfg.pretrain_target_length)
    used = sum(len(enc) + len(dec) for enc, dec in rows)
    assert all(len(enc) <= 128 and len(dec) <= 64 for enc, dec in rows)
    assert 1 - used / cells < 0.08  # (nearly) no padding left in the batch
    whole = 0
    for enc, dec in rows:
        row_sentinels = [t for t in enc if t in sentinels]
        assert len(row_sentinels) == len(set(row_sentinels))  # numbered on across the row, never reused
        inputs, targets = _split_at(enc, eos), _split_at(dec, eos)
        assert len(inputs) == len(targets) >= 2  # several documents a row, one target each
        for inp, tgt in zip(inputs, targets):
            hidden = [t for t in inp if t in sentinels]
            assert [t for t in tgt if t in sentinels] == hidden  # a target's sentinels are its own input's
            restored = _fill_spans(inp, tgt, sentinels) if hidden else inp + tgt
            # Every example gives back one document: whole, or (the row's filler) its end.
            source = next(d for d in documents if restored[0] in d)
            assert source[-len(restored):] == restored
            whole += restored == source
    assert whole > len(rows) * 2


def _split_at(row: list[int], eos: int) -> list[list[int]]:
    parts, current = [], []
    for t in row:
        if t == eos:
            parts.append(current)
            current = []
        else:
            current.append(t)
    assert not current, "every example ends with EOS"
    return parts


def _fill_spans(inputs: list[int], target: list[int], sentinels: list[int]) -> list[int]:
    spans, current = {}, None
    for t in target:
        if t in sentinels:
            current = spans.setdefault(t, [])
        else:
            current.append(t)
    return [x for t in inputs for x in (spans[t] if t in sentinels else [t])]


def test_packed_pretraining_runs_and_learns_a_little(trajectories_dir, tmp_path):
    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_t5 import TinyT5Config, build_tiny_t5

    cfg = TinyT5Config(vocab_size=300, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2, pretrain_steps=12,
                       pretrain_packed_rows=2, pretrain_packed=True, pretrain_lr=5e-3)

    stats = build_tiny_t5(pretraining_documents(trajectories_dir), tmp_path, cfg, log=lambda m: None)
    assert "packed rows" in stats["pretrain_objective"]
    assert stats["pretrain_last_loss"] < stats["pretrain_first_loss"]


def test_a_document_longer_than_a_packed_row_is_trained_piece_by_piece():
    from t2s_pipeline.training.tiny_t5 import packing_chunks

    pieces = packing_chunks([list(range(100, 350)), [7], [8, 9]], length=96)
    assert [len(p) for p in pieces] == [95, 95, 60, 2]  # the 1-token document is left out
    assert sum(pieces[:3], []) == list(range(100, 350))
    with pytest.raises(ValueError, match="pretrain_max_length 2"):
        packing_chunks([[1, 2, 3]], length=2)


def test_a_packed_row_scores_each_example_as_if_it_were_alone():
    """The segment masks: a row of three examples (and a row of one) gives the loss of the same examples padded
    apart, so no target reads another example's input."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from t2s_pipeline.training.tiny_t5 import _padded, packed_batch, packed_loss

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=50, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                                dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
                                                decoder_start_token_id=0)).eval()
    rng = random.Random(0)
    examples = [([rng.randint(3, 49) for _ in range(n)] + [1], [rng.randint(3, 49) for _ in range(k)] + [1])
                for n, k in ((5, 3), (7, 4), (4, 6), (6, 2))]
    rows = [(sum((e[0] for e in examples[:3]), []), sum((e[1] for e in examples[:3]), [])), examples[3]]
    packed = packed_loss(model, packed_batch(rows, eos=1, pad=0, dtype=torch.float32))
    inputs, mask = _padded([e[0] for e in examples], 0)
    labels, label_mask = _padded([e[1] for e in examples], 0)
    labels[label_mask == 0] = -100
    alone = model(input_ids=inputs, attention_mask=mask, labels=labels).loss
    assert abs(packed.item() - alone.item()) < 1e-4
    # Without the masks (the row read as one example) the loss differs: the test can tell.
    row_inputs, row_mask = _padded([rows[0][0]], 0)
    assert abs(model(input_ids=row_inputs, attention_mask=row_mask,
                     labels=torch.tensor([rows[0][1]])).loss.item() - alone.item()) > 1e-3


def test_a_question_sql_document_can_be_trained_as_question_to_sql(tiny_t5_dir):
    from transformers import AutoTokenizer

    from t2s_pipeline.training.tiny_t5 import TinyT5Config, answer_example, encode_documents

    documents = ["CREATE TABLE singer (name TEXT)", "Question: How many singers?\nSQL: SELECT COUNT(*) FROM singer"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_dir)
    encoded, cuts = encode_documents(tokenizer, documents)
    assert cuts[0] is None and cuts[1] is not None
    eos = tokenizer.eos_token_id
    inputs, target = answer_example(encoded[1], cuts[1], random.Random(0), TinyT5Config(answer_share=1.0), eos)
    # The encoder reads the question, the decoder writes the SQL: tokenized as the fine-tuning input and target are.
    assert tokenizer.decode(inputs[:-1]) == "Question: How many singers?" and inputs[-1] == eos
    assert target == tokenizer("SELECT COUNT(*) FROM singer", add_special_tokens=False)["input_ids"] + [eos]
    assert answer_example(encoded[1], cuts[1], random.Random(0), TinyT5Config(answer_share=0.0), eos) is None
    assert answer_example(encoded[0], cuts[0], random.Random(0), TinyT5Config(answer_share=1.0), eos) is None
