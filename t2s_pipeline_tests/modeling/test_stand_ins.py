"""The hub-shaped stand-ins are laid out as the hub models: architecture class and config fields, tokenizer class and
added tokens, the real chat template text (TRL's file), the hub's generation_config; and base_model takes one as
it takes a downloaded folder."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.modeling.stand_ins import FAMILIES, PRESET_FAMILIES, chat_template_text, family_of
from t2s_pipeline.training.config import read_preset


@pytest.mark.parametrize("preset", list(PRESET_FAMILIES))
def test_every_hub_preset_has_the_stand_in_of_its_model(preset):
    assert FAMILIES[family_of(preset)].hub_id.split("/")[-1].lower().startswith(
        read_preset(preset)["model"].split("/")[-1].lower())


def test_an_unknown_family_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="no hub stand-in for 'llama-70b'.*qwen3-8b"):
        family_of("llama-70b")


@pytest.mark.parametrize("family,cls,tied", [("qwen2.5-coder-1.5b", "Qwen2ForCausalLM", True),
                                             ("qwen2.5-coder-7b", "Qwen2ForCausalLM", False),
                                             ("qwen3-8b", "Qwen3ForCausalLM", False)])
def test_qwen_stand_ins_load_as_their_architecture_with_the_real_template(stand_in, family, cls, tied):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = stand_in(family)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(model).__name__ == cls and model.config.tie_word_embeddings is tied
    assert (model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()) is tied
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert tokenizer.chat_template == chat_template_text(FAMILIES[family].chat_template)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    assert model.config.vocab_size >= len(tokenizer) and model.config.vocab_size % 128 == 0
    assert model.config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    names = {name for name, _ in model.named_modules()}
    assert {"model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"} <= names
    assert ("model.layers.0.self_attn.q_norm" in names) is (cls == "Qwen3ForCausalLM")
    if cls == "Qwen3ForCausalLM":  # head_dim set apart from hidden / heads, as Qwen3's config does
        assert model.model.layers[0].self_attn.q_proj.out_features == 4 * 32 != model.config.hidden_size
    else:
        assert model.model.layers[0].self_attn.q_proj.bias is not None  # Qwen2's q/k/v biases
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["do_sample"] is True and generation["eos_token_id"][0] == model.config.eos_token_id


def test_qwen_added_tokens_are_single_tokens_and_tool_and_think_tags_survive_decoding(stand_in):
    from transformers import AutoTokenizer

    qwen25 = AutoTokenizer.from_pretrained(stand_in("qwen2.5-coder-7b"))
    qwen3 = AutoTokenizer.from_pretrained(stand_in("qwen3-8b"))
    for tokenizer, tags in ((qwen25, ("<tool_call>", "</tool_call>")),
                            (qwen3, ("<tool_call>", "</tool_call>", "<think>", "</think>"))):
        for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", *tags):
            assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1, token
        text = f"{tags[0]}\nSELECT 1\n{tags[1]}<|im_end|>"
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        # As on the hub: <tool_call> and <think> are added but not special, so they survive skip_special_tokens.
        assert tokenizer.decode(ids, skip_special_tokens=True) == f"{tags[0]}\nSELECT 1\n{tags[1]}"
    assert len(qwen25("<think>", add_special_tokens=False)["input_ids"]) > 1  # Qwen2.5 has no think token


def test_t5_stand_in_lacks_what_t5_small_lacks(stand_in):
    from transformers import AutoConfig, AutoTokenizer

    folder = stand_in("t5-small")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    assert type(tokenizer).__name__ == "T5Tokenizer" and config.architectures == ["T5ForConditionalGeneration"]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") == len(tokenizer) - 1
    ids = tokenizer("WHERE age <= 3 AND x = '{a}'", add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.unk_token_id) == 3  # <, { and }
    assert "age" in tokenizer.decode(ids)


def test_base_model_takes_a_stand_in_as_a_downloaded_folder(stand_in, tmp_path, trajectories_dir):
    from t2s_pipeline.training.base_model import prepare_base_model

    stats = prepare_base_model(str(stand_in("qwen3-8b")), trajectories_dir, tmp_path / "base", log=lambda m: None)
    assert stats["architecture"] == "decoder-only" and stats["added_tokens"] == []
    assert json.loads((tmp_path / "base" / "stand_in.json").read_text())["stands_in_for"] == "Qwen/Qwen3-8B"
