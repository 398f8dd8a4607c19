"""The README a newcomer reads: short, and every docs/ page reachable from it by a link that resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_README_LINES = 250
LINK = re.compile(r"\]\(((?!https?://|#)[^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_at_most_250_lines():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move a topic to a docs/ page"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / target).resolve() for target in LINK.findall((ROOT / "README.md").read_text())}
    missing = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in linked)
    assert not missing, f"docs pages the README does not link: {missing}"


def test_relative_links_in_the_readme_and_docs_resolve():
    broken = [f"{page.relative_to(ROOT)}: {target}" for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
              for target in LINK.findall(page.read_text()) if not (page.parent / target).exists()]
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)
