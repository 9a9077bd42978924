"""The README and docs/ as a reader follows them: every relative link and #anchor resolves, no file
points outside the repository, and the README stays a guide (at most 200 lines)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _links(page: Path) -> list[tuple[str, Path, str]]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    out = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        out.append((target, (page.parent / path).resolve() if path else page, anchor))
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_and_anchor_resolves(page):
    broken = []
    for target, path, anchor in _links(page):
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert broken == [], f"{page.name}: {broken}"


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad anchor](#nope) [missing](gone.md)\n")
    found = [(t, p.exists(), a in _anchors(p) if p.exists() else None) for t, p, a in _links(page)]
    assert found == [("#title", True, True), ("#nope", True, False), ("gone.md", False, None)]


def test_no_file_refers_to_notes_outside_the_repository():
    notes = ["STYLE", "MEASUREMENT", "FCDM_ARCHITECTURE"]
    pattern = "|".join([*(rf"{n}\.md" for n in notes), r"\.\./shared"])
    found = subprocess.run(
        ["git", "grep", "-n", "-E", pattern, "--", ".", ":!tests/test_docs.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if found.returncode == 128:
        pytest.skip("not a git checkout")
    assert found.stdout == ""


def test_readme_is_a_guide_of_at_most_200_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
