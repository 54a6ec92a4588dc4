"""The README and docs/ link to each other and to files by relative paths and #anchors: every one must resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.settings import PROJECT_DIR

PAGES = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)  # links shown as code are examples, not links


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings (a heading's inline code counts; lines in fenced code are no headings)."""
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.DOTALL)
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    return LINK.findall(CODE.sub("", page.read_text("utf-8")))


def test_the_anchor_rule_matches_githubs() -> None:
    assert anchor("Several answering processes (`--workers`)") == "several-answering-processes---workers"
    assert anchor("Ingesting HTML, URLs and Q&A files") == "ingesting-html-urls-and-qa-files"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    found = links(page)
    assert found, f"{page.name} links nowhere"  # the README and each docs page link to each other
    broken = []
    for target in found:
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no file {linked})")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target} (no heading #{fragment} in {linked.name})")
    assert not broken, f"{page.name}: " + "; ".join(broken)
