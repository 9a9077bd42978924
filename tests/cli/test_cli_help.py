"""Help and tables fit a terminal: at 80 and 120 columns every command's help names each option in
full, wraps its paragraphs cleanly, shows no placeholder for a plain flag, and the `flops` table
fits 100 columns unless --wide; piped output carries no terminal codes."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from fcdmbench.cli.flops import COLUMNS
from fcdmbench.cli.main import HELP_WIDTH, app

runner = CliRunner()


def _commands(command, path=()):
    """Every command of the tree (the root loads each command's module as it is asked)."""
    yield path, command
    if hasattr(command, "list_commands"):  # a group (typer vendors its own click)
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), (*path, name))


COMMANDS = list(_commands(get_command(app)))


@functools.cache
def _help(path: tuple[str, ...], columns: int) -> str:
    """``--help`` of a real process at a terminal width (typer's CliRunner forces 80)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run(
        [sys.executable, "-m", "fcdmbench", *path, "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _description(text: str) -> list[list[str]]:
    """The help's description paragraphs (after the usage line, before the first section), each
    a list of its lines, without the ``Example:`` block."""
    body = text.split("\n\n", 1)[1]
    body = re.split(r"^(?:Arguments|Options|Commands):$", body, maxsplit=1, flags=re.M)[0]
    paragraphs = [p.splitlines() for p in body.strip("\n").split("\n\n")]
    return [p for p in paragraphs if p[0].strip() != "Example:"]


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "root" for p, _ in COMMANDS])
def test_help_fits_and_names_every_option_in_full(path, command, columns):
    text = _help(path, columns)
    assert max(len(line) for line in text.splitlines()) <= columns
    assert "…" not in text and "<bool>" not in text
    assert not re.search(r"<(int|float|str|list|path)\b", text), "typer's type placeholder"
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                assert re.search(rf"(^|[ ,/;]){re.escape(opt)}([ ,;]|$)", text, re.M), opt
    if hasattr(command, "commands"):  # a group: each summary whole, not cut to "..."
        listed = text.split("Commands:\n", 1)[1]
        assert not re.search(r"\.\.\.$", listed, re.M), listed


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "root" for p, _ in COMMANDS])
def test_help_paragraphs_wrap_cleanly(path, command, columns):
    """Each description paragraph holds the docstring's words, and each of its lines is full:
    the next line's first word would not have fitted (no hard-wrapped line re-wrapped)."""
    width = min(columns, HELP_WIDTH) - 2
    paragraphs = _description(_help(path, columns))
    expected = [p for p in (command.help or "").split("\n\n") if not p.startswith("Example:")]
    assert [" ".join(" ".join(p).split()) for p in paragraphs] == [
        " ".join(p.split()) for p in expected
    ]
    for lines in paragraphs:
        for line, following in zip(lines, lines[1:], strict=False):
            assert len(line) + 1 + len(following.split()[0]) > width, (line, following)


LEAVES = [(p, c) for p, c in COMMANDS if not hasattr(c, "list_commands")]


def test_every_command_that_runs_something_has_an_example():
    """Groups (the root, ``models``, ``baseline``...) only list their commands; every other
    command's docstring ends with an ``Example:`` a user can copy."""
    missing = [" ".join(p) for p, c in LEAVES if "Example:" not in (c.help or "")]
    assert not missing and len(LEAVES) >= 15, missing


@pytest.mark.parametrize("path,command", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_example_is_a_command_to_copy(path, command):
    """The docstring's ``Example:`` shows on lines of its own; joined at its `\\` continuations
    it is the docstring's command, word for word."""
    _, _, example = (command.help or "").partition("Example:")
    text = _help(path, 80)
    shown = text.split("Example:\n", 1)[1].split("\n\n")[0]
    assert all(len(line) <= 80 for line in shown.splitlines())
    assert shown.replace("\\\n", " ").split() == example.split("\n\n")[0].split()


def _flops(*args: str) -> str:
    models = ["fcdm-s", "dic-s", "dig-s-2-skip"]  # S sizes: fast; the last a long name
    result = runner.invoke(app, ["flops", "--models", *models, "--ref", "none", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_flops_table_fits_100_columns_and_wide_shows_every_column():
    narrow, wide = _flops(), _flops("--wide")
    assert max(len(line) for line in narrow.splitlines()) <= 100
    assert "dig-s-2-skip" in narrow  # whole
    headers = {header for _, header, _ in COLUMNS}
    hidden = {header for _, header, is_wide in COLUMNS if is_wide}
    assert hidden and not any(h in narrow for h in hidden - {"res", "batch"})
    for header in headers:
        assert header in wide, header


def test_flops_json_carries_every_column():
    result = runner.invoke(app, ["flops", "fcdm-s", "--ref", "none", "--json", "-"])
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout)["results"]:
        assert {key for key, _, _ in COLUMNS} <= set(row)


@pytest.mark.parametrize("argv", [["flops", "fcdm-s"], ["throughput", "--help"]])
def test_piped_output_is_plain_text(argv):
    """A real process writing into a pipe: no colour or cursor codes, no line cut short."""
    env = {**os.environ, "COLUMNS": "", "TERM": "xterm-256color"}
    done = subprocess.run(
        [sys.executable, "-m", "fcdmbench", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout + done.stderr
    assert "…" not in done.stdout
