"""Run configs that train a preset on its model, and the one override that scales them down
(configs/run/scaled_down.yaml)."""

from __future__ import annotations

from pathlib import Path

from t2s_pipeline.training.config import PRESETS_DIR, read_preset

SCALED_DOWN = PRESETS_DIR / "run" / "scaled_down.yaml"


def preset_run_config(preset: str, rl_preset: str | None = None, model: str | None = None,
                      scaled_down: bool = False) -> dict:
    """The full_chain run config for `preset` (lora_adapter) and, when given, `rl_preset` (rl_adapter; else RL is
    switched off): base_model's model is the preset's own unless `model` names another (a local folder such as a
    hub stand-in). scaled_down merges configs/run/scaled_down.yaml over it."""
    ops = {"base_model": {"config": {"model": model or read_preset(preset).get("model") or "tiny"}},
           "lora_adapter": {"config": {"preset": preset}},
           "rl_adapter": {"config": {"preset": rl_preset} if rl_preset else {"enabled": False}}}
    config = {"ops": ops}
    if scaled_down:
        config = merged(config, scaled_down_overrides(with_rl=bool(rl_preset)))
    return config


def scaled_down_overrides(with_rl: bool = True) -> dict:
    import yaml

    overrides = yaml.safe_load(Path(SCALED_DOWN).read_text())
    if not with_rl:  # a switched-off rl_adapter takes no training fields
        overrides["ops"].pop("rl_adapter", None)
    return overrides


def merged(base: dict, over: dict) -> dict:
    """`over` merged into `base`, mappings key by key (a run config merged as Dagster merges config files)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
