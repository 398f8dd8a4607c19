"""The decoding a model folder gets unless one is asked for, and a decoding's name in reports.

The hand-written constraint (constrained.py) was measured to help the tiny model (README: the demo's EX with
and without it), so the tiny base says so in a file of its folder, and merges carry the file along. A hub
model decodes as its published EX figures were measured: greedy (beams for T5), unconstrained. Where no
file says otherwise, a folder is a hub model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

DEFAULTS_FILE = "t2s_decoding.json"


def write_decoding_default(model_dir: str | Path, constrained: bool, why: str) -> None:
    (Path(model_dir) / DEFAULTS_FILE).write_text(json.dumps({"constrained": constrained, "why": why}) + "\n")


def default_constrained(model_dir: str | Path) -> bool:
    """Whether the folder's model decodes under the constraint by default (False: no file, a hub model)."""
    path = Path(model_dir) / DEFAULTS_FILE
    return bool(json.loads(path.read_text()).get("constrained")) if path.is_file() else False


def copy_decoding_default(source_dir: str | Path, out_dir: str | Path) -> None:
    """Carry the base's default to a folder made from it (a merged model)."""
    path = Path(source_dir) / DEFAULTS_FILE
    if path.is_file():
        shutil.copy2(path, Path(out_dir) / DEFAULTS_FILE)


def decoding_name(num_beams: int = 1, constrained: bool = False, incremental: bool = False, votes: int = 1) -> str:
    """How the queries of a figure were decoded, in words: 'greedy, unconstrained', 'beam search (5), ...'."""
    name = f"beam search ({num_beams})" if num_beams > 1 else "greedy"
    if incremental:
        name += ", one pipe operator at a time"
    if votes > 1:
        name += f", voted by result over {votes} queries (the greedy one and {votes - 1} sampled)"
    return f"{name}, {'constrained' if constrained else 'unconstrained'}"


def sampled_decoding_name(temperature: float, per_question: int, constrained: bool) -> str:
    """How sampled EX's queries were drawn, in words."""
    return (f"sampled at temperature {temperature}, {per_question} queries a question, "
            f"{'constrained' if constrained else 'unconstrained'}")
