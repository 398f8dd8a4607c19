"""Every hub preset family through the chain on its hub-shaped stand-in (modeling/stand_ins.py), scaled down by
the one documented override (configs/run/scaled_down.yaml): base_model takes the stand-in folder as it takes a
download, then tokenized_splits, lora_adapter (4-bit NF4 on bitsandbytes' CPU backend where the preset says so,
activation checkpointing, the preset's LoRA targets), rl_adapter (GRPO with HF generate), eval_report, the
merge into the full-precision base, and `t2s ask` on the merged folder.

The data half (raw_benchmarks ... trajectories) is materialized once and copied into each family's storage.
The stand-ins' weights are random: these tests say that the chain runs and what it writes, not what it learns.
"""

from __future__ import annotations

import json
import shutil
import time

import dagster as dg
import pytest

from t2s_pipeline.assets.run_configs import preset_run_config
from t2s_pipeline.definitions import defs
from t2s_pipeline.resources.storage import current_version_path
from t2s_pipeline.training.config import load_preset

MODEL_HALF = ["base_model", "tokenized_splits", "lora_adapter", "rl_adapter", "eval_report", "merged_model"]
CHAINS = {  # test id: (SFT preset, RL preset)
    "qwen2.5-lora": ("qwen2.5-coder-1.5b-lora", None),
    "qwen2.5-qlora": ("qwen2.5-coder-7b-qlora", None),
    "qwen3-qlora": ("qwen3-8b-qlora", None),
    "qwen2.5-grpo": ("qwen2.5-coder-7b-qlora", "rl-qwen2.5-coder-7b"),
    "t5": ("t5-small", None),
}


@pytest.fixture(scope="module")
def data_storage(tmp_path_factory):
    storage = tmp_path_factory.mktemp("hub_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2S_STORAGE", str(storage))
        result = defs.resolve_job_def("data").execute_in_process(  # tool calls too: their masking is exercised
            instance=dg.DagsterInstance.ephemeral(),
            run_config={"ops": {"trajectories": {"config": {"tool_share": 0.1}}}})
    assert result.success
    return storage


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, data_storage):
    """Build each family's stand-in once, its tokenizer trained on the chain's own train texts."""
    from t2s_pipeline.modeling.stand_ins import build_stand_in, family_of
    from t2s_pipeline.training.base_model import pretraining_documents

    texts = pretraining_documents(current_version_path(data_storage, "trajectories"))
    root, built = tmp_path_factory.mktemp("stand_ins"), {}

    def get(preset: str):
        family = family_of(preset)
        if family not in built:
            build_stand_in(family, root / family, texts=texts)
            built[family] = root / family
        return built[family]

    return get


@pytest.fixture(scope="module")
def chain(data_storage, stand_ins, tmp_path_factory):
    """chain(name) -> the storage of that chain, materialized once. The GRPO chain starts from the QLoRA chain's
    storage (the same SFT stage: the RL preset's model and quantization) and runs rl_adapter onwards."""
    done = {}

    def run(name: str):
        if name in done:
            return done[name]
        preset, rl_preset = CHAINS[name]
        storage = tmp_path_factory.mktemp(name) / "storage"
        sft = next((k for k, v in CHAINS.items() if v == (preset, None)), None) if rl_preset else None
        shutil.copytree(run(sft) if sft else data_storage, storage)
        assets = MODEL_HALF[MODEL_HALF.index("rl_adapter"):] if sft else MODEL_HALF
        run_config = preset_run_config(preset, rl_preset, model=str(stand_ins(preset)), scaled_down=True)
        run_config["ops"] = {op: c for op, c in run_config["ops"].items() if op in assets}
        began = time.monotonic()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("T2S_STORAGE", str(storage))
            result = defs.resolve_job_def("full_chain").execute_in_process(
                run_config=run_config, instance=dg.DagsterInstance.ephemeral(),
                asset_selection=[dg.AssetKey(k) for k in assets], raise_on_error=False)
        print(f"\n{name}: {', '.join(assets)} in {time.monotonic() - began:.0f} s")
        assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
        done[name] = storage
        return storage

    return run


def merged_folder_answers(storage, tmp_path):
    """`t2s ask` on the merged folder: it loads without PEFT and writes some reply for a question."""
    from t2s_pipeline.cli.ask import ask

    merged = current_version_path(storage, "merged_model")
    db = next((current_version_path(storage, "raw_benchmarks") / "databases").glob("*.sqlite"))
    local = tmp_path / db.name
    shutil.copy(db, local)
    sql, result = ask(str(merged), str(local), "How many rows are there?", max_new_tokens=12)
    assert isinstance(sql, str) and result.status
    return merged


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHAINS))
def test_hub_preset_chain_on_its_stand_in(name, chain, tmp_path):
    storage = chain(name)
    preset, rl_preset = CHAINS[name]
    report = json.loads((current_version_path(storage, "eval_report") / "report.json").read_text())
    training = json.loads((current_version_path(storage, "lora_adapter") / "run.json").read_text())["training"]
    metrics = json.loads((current_version_path(storage, "lora_adapter") / "metrics.json").read_text())
    assert report["questions"] == 6 and metrics["steps"] == 4  # scaled down, as configs/run/scaled_down.yaml says
    # Only sizes and steps were scaled: what the preset says about the model stays.
    kept = ("quantization", "lora_target_modules", "activation_checkpointing", "precision", "finetuning")
    assert {k: training[k] for k in kept} == {k: load_preset(preset).to_dict()[k] for k in kept}
    seq2seq = training["finetuning"] == "full"
    assert report["settings"]["decoding"] == ("beam search (5)" if seq2seq else "greedy") + ", unconstrained"
    if rl_preset:
        assert "rl" in report and json.loads((current_version_path(storage, "rl_adapter") / "metrics.json")
                                             .read_text())["steps"] == 2
    merged = merged_folder_answers(storage, tmp_path)
    base = current_version_path(storage, "base_model")
    config = json.loads((merged / "config.json").read_text())
    assert config["architectures"] == json.loads((base / "config.json").read_text())["architectures"]
    if seq2seq:  # t5-small cannot write `<`: base_model added it, since the train SQL has `age < 30`
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base)
        assert tokenizer.unk_token_id not in tokenizer("WHERE age < 30", add_special_tokens=False)["input_ids"]
    else:  # every target of the preset became LoRA weights on the model's real module names, in every layer
        from safetensors import safe_open

        with safe_open(current_version_path(storage, "lora_adapter") / "adapter" / "adapter_model.safetensors",
                       "pt") as weights:
            trained = {key.split(".")[-3] for key in weights.keys() if ".layers.1." in key and "lora_A" in key}
        assert trained == set(training["lora_target_modules"])
        merged_from = json.loads((merged / "merged_from.json").read_text())["adapter"]  # the best: SFT or RL
        assert_merge_matches_base_plus_adapter(base, current_version_path(storage, merged_from) / "adapter", merged)


def assert_merge_matches_base_plus_adapter(base, adapter, merged):
    """The merged folder (an adapter trained on a 4-bit base, where the preset says so, merged into the full-precision
    base) gives the logits of the full-precision base with the adapter applied, and holds no LoRA weight."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[3, 17, 42, 7, 99, 5]])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                                             adapter)(input_ids=ids).logits
        model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
        got = model(input_ids=ids).logits
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
