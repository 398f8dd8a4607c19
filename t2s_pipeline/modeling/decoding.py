"""The decoding a model folder gets unless one is asked for, and a decoding's name in reports.

The hand-written constraint (constrained.py) was measured to help the tiny model (README: the demo's EX with
and without it), so the tiny base says so in a file of its folder (`{"constraint": "rules"}`), and merges
carry the file along. A hub model decodes as its published EX figures were measured: greedy (beams for T5),
unconstrained. Where no file says otherwise, a folder is a hub model. Files written before the one knob
(`{"constrained": true}`) still read: true is `rules`, false `none`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from t2s_pipeline.modeling.constraint import DEFAULT, check_constraint

DEFAULTS_FILE = "t2s_decoding.json"


def write_decoding_default(model_dir: str | Path, constraint: str, why: str) -> None:
    (Path(model_dir) / DEFAULTS_FILE).write_text(json.dumps({"constraint": check_constraint(constraint),
                                                             "why": why}) + "\n")


def default_constraint(model_dir: str | Path) -> str:
    """The constraint the folder's model decodes under by default ('none': no file, a hub model)."""
    path = Path(model_dir) / DEFAULTS_FILE
    if not path.is_file():
        return "none"
    stored = json.loads(path.read_text())
    if "constraint" in stored:
        try:
            return check_constraint(stored["constraint"])
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return "rules" if stored.get("constrained") else "none"  # a file from before the one knob


def resolve_constraint(constraint: str | None, model_dir: str | Path) -> str:
    """The constraint to decode with: the one asked for, or for `default` (or empty) the model folder's."""
    if check_constraint(constraint, allow_default=True) != DEFAULT:
        return constraint
    return default_constraint(model_dir)


def copy_decoding_default(source_dir: str | Path, out_dir: str | Path) -> None:
    """Carry the base's default to a folder made from it (a merged model)."""
    path = Path(source_dir) / DEFAULTS_FILE
    if path.is_file():
        shutil.copy2(path, Path(out_dir) / DEFAULTS_FILE)


def _constraint_words(constraint: str) -> str:
    return "unconstrained" if constraint == "none" else f"constrained ({check_constraint(constraint)})"


def decoding_name(num_beams: int = 1, constraint: str = "none", incremental: bool = False, votes: int = 1) -> str:
    """How the queries of a figure were decoded, in words: 'greedy, unconstrained', 'beam search (5), constrained
    (rules)', ..."""
    name = f"beam search ({num_beams})" if num_beams > 1 else "greedy"
    if incremental:
        name += ", one pipe operator at a time"
    if votes > 1:
        name += f", voted by result over {votes} queries (the greedy one and {votes - 1} sampled)"
    return f"{name}, {_constraint_words(constraint)}"


def sampled_decoding_name(temperature: float, per_question: int, constraint: str) -> str:
    """How sampled EX's queries were drawn, in words."""
    return f"sampled at temperature {temperature}, {per_question} queries a question, {_constraint_words(constraint)}"


# What each constraint holds the SQL to, in words (model cards)
CONSTRAINT_WORDS = {"rules": "the question's literals and the database's names (hand rules)",
                    "grammar": "the SQL grammar of the question's database, with its linked values",
                    "grammar+rules": "the SQL grammar of the question's database and the hand rules"}


def report_constraint(settings: dict) -> str:
    """The constraint a report's settings name (reports from before the one knob say `constrained: true`)."""
    return settings.get("constraint") or ("rules" if settings.get("constrained") else "none")
