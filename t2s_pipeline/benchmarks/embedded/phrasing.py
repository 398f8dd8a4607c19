"""English building blocks: question frames, filter phrases and SQL literals.

Each gold query gets 2-3 questions drawn from a frame family so a small model sees
the same SQL behind varied wording.
"""

from __future__ import annotations

import random

from .schema import Column

# "{cols}" is a plural column noun ("names"), "{np}" a noun phrase ("students from Boston").
LIST = (
    "List the {cols} of {np}.",
    "What are the {cols} of {np}?",
    "Show the {cols} of {np}.",
    "Give me the {cols} of {np}.",
    "Find the {cols} of {np}.",
    "Return the {cols} of {np}.",
    "Tell me the {cols} of {np}.",
    "Display the {cols} of {np}.",
    "Retrieve the {cols} of {np}.",
    "I want to know the {cols} of {np}.",
)
COUNT = (
    "How many {np} are there?",
    "Count the number of {np}.",
    "What is the number of {np}?",
    "Find the total number of {np}.",
    "Give me the count of {np}.",
    "Tell me how many {np} there are.",
)
# "{agg}" is average/maximum/minimum/total, "{col}" a singular column noun.
AGGREGATE = (
    "What is the {agg} {col} of {np}?",
    "Find the {agg} {col} of {np}.",
    "Compute the {agg} {col} of {np}.",
    "Tell me the {agg} {col} of {np}.",
    "Show the {agg} {col} over {np}.",
    "Give me the {agg} {col} of {np}.",
)
AGG_WORDS = {"AVG": "average", "MAX": "maximum", "MIN": "minimum", "SUM": "total"}
TOP_WORDS = ("highest", "largest", "greatest")
BOTTOM_WORDS = ("lowest", "smallest")


def ask(rng: random.Random, frames: tuple[str, ...], **slots) -> list[str]:
    """Fill 2 or 3 distinct frames; a tuple slot is a choice made afresh per question."""
    chosen = rng.sample(frames, k=min(len(frames), rng.choice((2, 2, 3))))
    questions = []
    for frame in chosen:
        filled = {k: rng.choice(v) if isinstance(v, tuple) else v for k, v in slots.items()}
        questions.append(frame.format(**filled))
    return questions


def literal(value) -> str:
    """SQL literal; the data holds no quotes, so plain single quoting is safe."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def said(value) -> str:
    """How a value is written in the question: verbatim, as it appears in the SQL."""
    return value if isinstance(value, str) else repr(value)


def article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def eq_phrases(col: Column, value) -> tuple[str, ...]:
    forms = col.eq or ("whose {p} is {v}", "with {p} {v}")
    return tuple(f.format(p=col.phrase, v=said(value)) for f in forms)


def gt_phrases(col: Column, value) -> tuple[str, ...]:
    v, p = said(value), col.phrase
    return (f"whose {p} is greater than {v}", f"with {p} above {v}", f"with {p} over {v}")


def lt_phrases(col: Column, value) -> tuple[str, ...]:
    v, p = said(value), col.phrase
    return (f"whose {p} is less than {v}", f"with {p} below {v}", f"with {p} under {v}")


def between_phrases(col: Column, low, high) -> tuple[str, ...]:
    lo, hi, p = said(low), said(high), col.phrase
    return (f"whose {p} is between {lo} and {hi}", f"with {p} from {lo} to {hi}")
