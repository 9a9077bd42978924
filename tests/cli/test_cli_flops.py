"""`fcdmbench flops` through the root group, as a user runs it: model naming forms, errors."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app, normalize_argv
from fcdmbench.cli.selection import select_models
from fcdmbench.registry import get_spec, list_models, resolve

runner = CliRunner()
FAST = ["--ref", "none"]  # no reference model: each invocation counts only what it names


def _models(args: list[str]) -> list[str]:
    result = runner.invoke(app, ["flops", *args, *FAST, "--json", "-"])
    assert result.exit_code == 0, result.output
    return [r["model"] for r in json.loads(result.stdout)["results"]]


def test_required_command_line_is_expanded_for_click():
    assert normalize_argv(["flops", "--models", "fcdm-xl", "dit-xl"]) == [
        "flops",
        "--models",
        "fcdm-xl",
        "--models",
        "dit-xl",
    ]


def test_required_command_line_runs_or_names_the_missing_model():
    result = runner.invoke(app, ["flops", "--models", "fcdm-xl", "dit-xl", *FAST, "--json", "-"])
    try:
        expected = [get_spec("fcdm-xl").name, get_spec("dit-xl").name]
    except KeyError:  # DiT not registered on this branch: a usage error naming it
        assert result.exit_code == 2
        assert "unknown model 'dit-xl'" in result.stderr
        return
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in json.loads(result.stdout)["results"]] == expected
    assert expected[1] == "dit-xl-2"


@pytest.mark.parametrize(
    "args",
    [
        ["--models", "fcdm-xl", "fcdm-s"],
        ["--models", "fcdm-xl,fcdm-s"],
        ["--models", "fcdm-xl", "--models", "fcdm-s"],
        ["-m", "fcdm-xl", "-m", "fcdm-s"],
        ["--models=fcdm-xl", "fcdm-s"],
        ["fcdm-xl", "fcdm-s"],
        ["FCDM-S", "--models", "fcdm-xl,fcdm-s"],  # --models values first, then positionals
        ["--models", "fcdm-xl", "fcdm-s", "fcdm-xl", "fcdm-s"],
    ],
    ids=["several", "commas", "repeated", "short", "equals", "positional", "mixed", "dups"],
)
def test_every_form_gives_one_ordered_deduplicated_list(args):
    assert _models(args) == ["fcdm-xl", "fcdm-s"]


#: What a wildcard must select, written from the model line-up (family, then size smallest
#: first, then patch), not computed by the code under test.
WILDCARDS = {
    "fcdm-*": ["fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl"],
    "*-xl*": [
        "fcdm-xl",
        "dit-xl-2",
        "dit-xl-4",
        "dit-xl-8",
        "dic-xl",
        "dico-xl",
        "dig-xl-2",
        "dig-xl-2-skip",
    ],
    "dit-?-2": ["dit-s-2", "dit-b-2", "dit-l-2"],
    "DiT-*/2": ["dit-s-2", "dit-b-2", "dit-l-2", "dit-xl-2"],  # paper spelling
}


@pytest.mark.parametrize("pattern", WILDCARDS)
def test_wildcards_expand_in_model_order(pattern):
    expected = WILDCARDS[pattern]
    assert select_models([pattern]) == expected
    assert select_models(["dic-s", pattern]) == ["dic-s", *expected]  # named first stays first
    assert select_models([expected[-1], pattern]) == [expected[-1], *expected[:-1]]  # no repeat


def test_wildcards_through_the_cli():
    assert _models(["--models", "fcdm-*"]) == WILDCARDS["fcdm-*"]


def test_every_alias_and_paper_spelling_resolves_to_its_model():
    for name in list_models():
        spec = get_spec(name)
        for spelling in (*spec.aliases, spec.display_name, name.upper()):
            assert select_models([spelling]) == [name], spelling


def test_table_labels_the_convention():
    result = runner.invoke(app, ["flops", "--models", "fcdm-xl", *FAST])
    assert result.exit_code == 0, result.output
    assert "GMACs (DiT/paper convention)" in result.stdout
    assert "GFLOPs = 2 × GMACs" in result.stdout
    assert "64.59" in result.stdout  # FCDM-XL, the seed paper's Table 2 prints 64.6


def test_breakdown_shows_operators_and_unet_stages():
    result = runner.invoke(app, ["flops", "fcdm-s", "--breakdown", "--depth", "1", *FAST])
    assert result.exit_code == 0, result.output
    for text in ("by operator", "aten.convolution", "zero", "by module", "enc1", "mid", "dec1"):
        assert text in result.stdout


def test_json_and_csv_files(tmp_path):
    json_path, csv_path = tmp_path / "flops.json", tmp_path / "flops.csv"
    result = runner.invoke(
        app,
        [
            "flops",
            "fcdm-s",
            "--cfg",
            "--batch",
            "2",
            "--ref",
            "fcdm-s",
            "--json",
            str(json_path),
            "--csv",
            str(csv_path),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(json_path.read_text())
    assert record["schema"] == "fcdmbench.flops/2" and "env" in record
    row = record["results"][0]
    assert row["ratio_to_ref"] == pytest.approx(1.0) and row["rows"] == 4
    assert row["cfg_gmacs_per_image"] == pytest.approx(2 * row["gmacs"])
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["model"] == "fcdm-s" and float(rows[0]["gmacs"]) == pytest.approx(row["gmacs"])


def test_resolution_512_quadruples_a_convnet():
    at_256 = runner.invoke(app, ["flops", "fcdm-s", *FAST, "--json", "-"])
    at_512 = runner.invoke(app, ["flops", "fcdm-s", "-r", "512", *FAST, "--json", "-"])
    gmacs = [json.loads(r.stdout)["results"][0]["gmacs"] for r in (at_256, at_512)]
    assert gmacs[1] == pytest.approx(4 * gmacs[0], rel=0.01)


def test_counter_all_side_by_side_names_skipped_ops():
    # 64 px keeps the CPU tracing of fvcore and torchprofile fast
    result = runner.invoke(app, ["flops", "fcdm-s", "-r", "64", "--counter", "all", *FAST])
    assert result.exit_code == 0, result.output
    assert "counters side by side" in result.stdout
    assert "aten::addcmul" in result.stdout  # skipped by both tracing counters, and shown


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "fcdm-xxl"], "did you mean"),
        (["--models", "nothing-*"], "no registered model matches"),
        (["fcdm-s", "--resolution", "260"], "multiple of 8"),
        (["fcdm-s", "--resolution", "264"], "cannot take resolution 264"),
        (["fcdm-s", "--batch", "0"], "--batch"),
        (
            ["fcdm-s", "--counter", "thop"],
            "is not one of 'flop_counter', 'fvcore', 'torchprofile', 'all'",
        ),
        (["fcdm-s", "--ref", "not-a-model"], "unknown model"),
        (["fcdm-s.512"], "resolution tag"),
        ([], "no model selected"),
    ],
    ids=[
        "unknown",
        "no-match",
        "res-not-8",
        "res-model",
        "batch-0",
        "counter",
        "ref",
        "tag",
        "none",
    ],
)
def test_errors_exit_2_with_a_message(args, message):
    result = runner.invoke(app, ["flops", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unknown_model_suggests_names():
    result = runner.invoke(app, ["flops", "--models", "fcdm-xxl"])
    assert "fcdm-xl" in result.stderr and "hint:" in result.stderr
    assert resolve("fcdm-xl")[0].name == "fcdm-xl"


#: A fresh `fcdmbench flops` process, with `run_flops` spied on: the freeze count during the
#: count, after it, and whether torch._dynamo was imported.
_FREEZE_SPY = """
import gc, runpy, sys
from fcdmbench.flops import run
seen, real = [], run.run_flops
run.run_flops = lambda *a, **k: seen.append(gc.get_freeze_count()) or real(*a, **k)
sys.argv = ["fcdmbench", "flops", "fcdm-s", "--ref", "none"]
try:
    runpy.run_module("fcdmbench", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print(seen[0] > 0, gc.get_freeze_count(), "torch._dynamo" in sys.modules, file=sys.stderr)
"""


def test_the_cli_freezes_its_own_objects_during_the_count_only(monkeypatch):
    """In a fresh process the objects alive before the count (the CLI's) sit in the permanent
    generation while torch is imported and the models counted, and are back afterwards, with
    torch._dynamo still kept out; with torch loaded already (here) nothing is frozen or
    unfrozen."""
    import gc
    import subprocess
    import sys

    from fcdmbench.flops import run

    fresh = subprocess.run(
        [sys.executable, "-c", _FREEZE_SPY], capture_output=True, text=True, check=True
    )
    assert fresh.stderr.split()[-3:] == ["True", "0", "False"], fresh.stderr
    frozen = []
    real = run.run_flops
    monkeypatch.setattr(
        run, "run_flops", lambda *a, **k: frozen.append(gc.get_freeze_count()) or real(*a, **k)
    )
    import torch  # noqa: F401 - loaded already: nothing to spare

    before = gc.get_freeze_count()  # whatever the test process froze itself
    assert runner.invoke(app, ["flops", "fcdm-s", *FAST]).exit_code == 0
    assert frozen[0] <= before and gc.get_freeze_count() <= before  # nothing frozen
    assert (gc.get_freeze_count() > 0) == (before > 0)  # nor unfrozen
