"""The HTML report, parsed as a browser would read it: every image loads, every in-page link has its
target, and every table cell the markdown report fills is filled in the HTML too, with the same
text. `tools/screenshot_report.sh` shows the page in a real browser."""

from __future__ import annotations

import base64
import binascii
import html
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fcdmbench.reporting.report import ReportConfig, ReportFormat, build_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Page:
    """What the parser found: element ids, ``#`` links, image sources, and each section's
    title and table rows (header row first)."""

    ids: set[str] = field(default_factory=set)
    anchors: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._title: str | None = None
        self._text: list[str] | None = None
        self._rows: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.page.ids.add(attrs["id"])
        if tag == "a" and (attrs.get("href") or "").startswith("#"):
            self.page.anchors.append(attrs["href"][1:])
        if tag == "img":
            self.page.images.append(attrs.get("src") or "")
        if tag in ("h2", "td", "th"):
            self._text = []
        if tag == "tr":
            self._rows.append([])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._title, self._rows = "".join(self._text or []), []
        elif tag in ("td", "th"):
            self._rows[-1].append("".join(self._text or []).strip())
        elif tag == "table" and self._title is not None:
            self.page.tables[self._title] = self._rows
        if tag in ("h2", "td", "th"):
            self._text = None


def parse_html(text: str) -> Page:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return parser.page


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """``### title`` -> rows of the pipe table under it (header first, separator dropped)."""
    tables = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        lines = [line for line in body.splitlines() if line.startswith("|")]
        rows = [re.split(r"(?<!\\)\|", line.strip()[1:-1]) for line in lines]
        tables[title] = [
            [c.strip().replace("\\|", "|") for c in row] for row in rows[:1] + rows[2:]
        ]
    return tables


def image_problem(src: str, folder: Path) -> str | None:
    """Why `src` would not load (None when it does): an inline PNG must decode, a file exist."""
    if src.startswith("data:"):
        head, _, data = src.partition(",")
        if head != "data:image/png;base64":
            return f"unexpected data URI {head}"
        try:
            png = base64.b64decode(data, validate=True)
        except binascii.Error:
            return "data URI is not base64"
        return None if png.startswith(PNG_SIGNATURE) and len(png) > 100 else "not a PNG"
    return None if src and (folder / src).is_file() else f"{src!r} does not exist"


@pytest.fixture(scope="module")
def report(synthetic_records, tmp_path_factory) -> Path:
    """A report with measured cells (synthetic GPU throughput, an FID-50K eval) and every
    figure; no meta counting (the demo report's GMACs cells: the full suite's test below)."""
    out = tmp_path_factory.mktemp("html") / "report"
    config = ReportConfig(
        records=(synthetic_records,),
        out=out,
        formats=(ReportFormat.MD, ReportFormat.HTML),
        use_meta=False,
    )
    build_report(config, warn=lambda message: None)
    return out


def check_report(out: Path) -> None:
    page = parse_html((out / "report.html").read_text())
    problems = [p for src in page.images if (p := image_problem(src, out))]
    assert page.images and problems == []
    markdown = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(figures) == len(page.images)
    assert [f for f in figures if image_problem(f, out)] == []
    assert page.anchors and set(page.anchors) <= page.ids, set(page.anchors) - page.ids
    expected = markdown_tables(markdown)
    assert set(page.tables) == {html.unescape(t) for t in expected}
    for title, rows in expected.items():
        shown = page.tables[html.unescape(title)]
        assert len(shown) == len(rows), title
        for row, shown_row in zip(rows, shown, strict=True):
            assert len(row) == len(shown_row), (title, row, shown_row)
            for cell, shown_cell in zip(row, shown_row, strict=True):
                if cell:  # no cell is empty (or different) where the markdown has a value
                    assert shown_cell == cell, (title, row[0], cell, shown_cell)


def test_html_report_loads_links_and_fills_every_cell(report):
    check_report(report)


@pytest.mark.slow
def test_demo_html_report_loads_links_and_fills_every_cell(cli_demo_report):
    """The README's demo report (no records, GMACs counted on the meta device), as the CLI
    builds it: the same build as tests/cli's check of its tables (conftest.py)."""
    result, out = cli_demo_report
    assert result.exit_code == 0, result.output
    check_report(out)


@pytest.mark.parametrize("damage", ["image", "link", "cell"])
def test_the_check_can_fail(report, tmp_path, damage):
    """Negative controls: a broken image, a dangling link or an emptied cell fails the check."""
    copy = tmp_path / "report"
    shutil.copytree(report, copy)
    text = (copy / "report.html").read_text()
    if damage == "image":
        text = re.sub(
            r'src="data:image/png;base64,[^"]{8}', 'src="data:image/png;base64,AAAA', text
        )
    elif damage == "link":
        text = text.replace('href="#', 'href="#missing-', 1)
    else:
        title, rows = next((t, r) for t, r in parse_html(text).tables.items() if len(r) > 1)
        text = text.replace(f"<td>{html.escape(rows[1][0])}</td>", "<td></td>", 1)
    assert text != (report / "report.html").read_text()
    (copy / "report.html").write_text(text)
    with pytest.raises(AssertionError):
        check_report(copy)
