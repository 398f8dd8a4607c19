"""The chat prompt every sample and every evaluation question uses."""

from __future__ import annotations

SYSTEM_PROMPT = "You write one SQLite query that answers the question. Reply with the SQL only."


def user_prompt(schema_text: str, question: str, evidence: str = "") -> str:
    """Schema first, then the question (and BIRD-style evidence when there is some)."""
    parts = [f"Database schema:\n{schema_text}", f"Question: {question}"]
    if evidence:
        parts.append(f"Evidence: {evidence}")
    return "\n\n".join(parts)


def prompt_messages(schema_text: str, question: str, evidence: str = "") -> list[dict]:
    """System and user turns: what the model sees before it answers."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(schema_text, question, evidence)},
    ]
