"""merge_adapter: merged weights reproduce base + adapter; output folder and dtype are guarded."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.training.merge import merge_adapter


@pytest.fixture(scope="module")
def adapter_dir(tiny_base_dir, tmp_path_factory):
    """An adapter with non-zero LoRA B (a fresh one is a no-op), saved with its tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_base_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                            task_type="CAUSAL_LM"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.2)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base_dir).save_pretrained(out)
    return out


def logits(model, seed: int = 1):
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, model.config.vocab_size, (2, 12), generator=gen)
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def test_fp32_merge_matches_base_plus_adapter(tiny_base_dir, adapter_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    info = merge_adapter(tiny_base_dir, adapter_dir, out, dtype="fp32")
    assert info["dtype"] == "fp32"
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_base_dir, dtype=torch.float32).eval()
    base_logits = logits(base)
    with_adapter = PeftModel.from_pretrained(base, adapter_dir).eval()
    expected = logits(with_adapter)
    got = logits(merged)
    # The adapter changes the model, and the merged weights reproduce it.
    assert (expected - base_logits).abs().max() > 1e-3
    assert (got - expected).abs().max() < 1e-5
    # A plain model folder: no PEFT files, and it loads with its tokenizer.
    assert not (out / "adapter_config.json").exists()
    assert (out / "tokenizer.json").is_file()
    assert info["parameters"] == sum(p.numel() for p in merged.parameters())


def test_refuses_a_non_empty_output_unless_overwrite(tiny_base_dir, adapter_dir, tmp_path):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("previous model")
    with pytest.raises(FileExistsError, match="overwrite"):
        merge_adapter(tiny_base_dir, adapter_dir, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    merge_adapter(tiny_base_dir, adapter_dir, out, overwrite=True)
    assert (out / "config.json").is_file()


def test_an_empty_existing_output_folder_is_fine(tiny_base_dir, adapter_dir, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    merge_adapter(tiny_base_dir, adapter_dir, out)
    assert (out / "config.json").is_file()


def test_rejects_an_unknown_dtype_before_writing(tiny_base_dir, adapter_dir, tmp_path):
    with pytest.raises(ValueError, match="int8"):
        merge_adapter(tiny_base_dir, adapter_dir, tmp_path / "merged", dtype="int8")
    assert not (tmp_path / "merged").exists()


def test_bf16_merge_saves_bf16_weights_close_to_fp32(tiny_base_dir, adapter_dir, tmp_path):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    out = tmp_path / "bf16"
    merge_adapter(tiny_base_dir, adapter_dir, out, dtype="bf16")
    files = list(out.glob("*.safetensors"))
    assert files
    for f in files:
        with safe_open(f, framework="pt") as st:
            for key in st.keys():
                assert st.get_tensor(key).dtype == torch.bfloat16, key
    config = json.loads((out / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"

    fp32 = tmp_path / "fp32"
    merge_adapter(tiny_base_dir, adapter_dir, fp32, dtype="fp32")
    a = logits(AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval())
    b = logits(AutoModelForCausalLM.from_pretrained(fp32, dtype=torch.float32).eval())
    assert (a - b).abs().max() < 5e-2


def test_merged_model_card_reads_the_stored_versions(tiny_base_dir, tmp_path):
    import json

    from t2s_pipeline.assets.merged_model import merged_model_card

    adapter, report_dir = tmp_path / "versions" / "20261207T070000-abc", tmp_path / "eval" / "20261207T071000-def"
    adapter.mkdir(parents=True), report_dir.mkdir(parents=True)
    (adapter / "metrics.json").write_text(json.dumps({"finetuning": "lora", "steps": 40}))
    report = {"questions": 2, "protocol": "spider", "settings": {"num_beams": 1, "max_new_tokens": 8},
              "base": {"execution_accuracy": 0.0}, "fine_tuned": {"execution_accuracy": 0.5}}
    card = merged_model_card(report, "fine_tuned", adapter, "lora_adapter", tiny_base_dir, report_dir, "fp32")
    assert f"| base_model | {tiny_base_dir.name} |" in card and "| lora_adapter | 20261207T070000-abc |" in card
    assert "| eval_report | 20261207T071000-def |" in card and "| steps | 40 |" in card
    assert "LlamaForCausalLM" in card and "| SFT (merged) | 0.500 |" in card
