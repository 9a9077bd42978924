"""`fcdmbench --version/--help` and `models list|show`, run through the root group."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fcdmbench import __version__
from fcdmbench.cli.main import app
from fcdmbench.errors import UnknownModelError
from fcdmbench.registry import get_spec, list_models

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def test_version():
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fcdmbench {__version__}"


def test_help_lists_models_command():
    result = _invoke("--help")
    assert result.exit_code == 0
    assert "models" in result.stdout
    assert "--version" in result.stdout and "--debug" in result.stdout


def test_no_args_shows_help():
    result = _invoke()
    assert "Usage" in result.output


def test_models_list_shows_exact_counts():
    result = _invoke("models", "list", "fcdm-*")
    assert result.exit_code == 0, result.output
    for name in ("fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl"):
        assert name in result.stdout
        assert f"{get_spec(name).num_params():,}" in result.stdout
    assert "698,754,056" in result.stdout  # FCDM-XL, as counted on upstream's model
    assert "dit-" not in result.stdout
    assert result.stderr == ""


def test_models_list_json_parses():
    result = _invoke("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list_models()
    by_name = {r["name"]: r for r in rows}
    assert by_name["fcdm-xl"]["params"] == 698_754_056
    assert by_name["fcdm-xl"]["display_name"] == "FCDM-XL"
    assert by_name["fcdm-s"]["resolutions"] == [256, 512]


def test_models_list_exclude_and_pattern_forms():
    result = _invoke("models", "list", "FCDM-*", "--exclude", "*-xl", "--json")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.stdout)] == ["fcdm-s", "fcdm-b", "fcdm-l"]


def test_models_list_no_match_exits_2():
    result = _invoke("models", "list", "nothing-*")
    assert result.exit_code == 2
    assert "error:" in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""


def test_models_show_paper_spelling():
    result = _invoke("models", "show", "FCDM-XL")
    assert result.exit_code == 0, result.output
    assert "fcdm-xl" in result.stdout
    assert "698,754,056" in result.stdout
    assert "star-kwon/FCDM" in result.stdout and "0ec590f" in result.stdout
    assert "4x32x32" in result.stdout and "4x64x64" in result.stdout


def test_models_show_json():
    result = _invoke("models", "show", "fcdm_s", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "fcdm-s"
    assert info["input_shapes"] == {"256": [4, 32, 32], "512": [4, 64, 64]}
    assert info["config"]["width"] == 128
    assert info["upstream"]["commit"].startswith("0ec590f")


def test_models_show_unknown_exits_2_with_error_and_hint():
    result = _invoke("models", "show", "nope")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: unknown model 'nope'")
    assert any(line.startswith("hint: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_models_show_near_miss_suggests():
    result = _invoke("models", "show", "fcdm-xxl")
    assert result.exit_code == 2
    assert "fcdm-xl" in result.stderr


def test_debug_reraises():
    result = _invoke("--debug", "models", "show", "nope")
    assert isinstance(result.exception, UnknownModelError)
    assert result.exit_code == 1


def test_bad_flag_is_a_usage_error():
    result = _invoke("models", "list", "--no-such-flag")
    assert result.exit_code == 2
