"""The root group imports a command's module only when that command runs (`COMMANDS`), and the
help and the listings import no heavy library (torch, TensorFlow, pandas, ...)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from fcdmbench.cli.main import COMMANDS, app


def _modules_after(argv: list[str]) -> set[str]:
    """The modules a fresh process has loaded after running `argv`."""
    code = textwrap.dedent(
        f"""
        import sys
        from fcdmbench.cli.main import app
        try:
            app({argv!r}, prog_name="fcdmbench")
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        print(" ".join(sorted(sys.modules)))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return set(lines[-1].split()) if lines else set()


#: What neither the help nor a listing imports (start-up time); a command imports the records
#: package when it runs.
HEAVY = ("torch", "tensorflow", "fvcore", "torchprofile", "pandas", "matplotlib", "scipy")


@pytest.mark.parametrize(
    "argv, own",
    [
        (["--help"], set()),
        (["flops", "--help"], {"fcdmbench.cli.flops"}),
        (["models", "list"], {"fcdmbench.cli.models"}),
        (["models", "show", "fcdm-xl"], {"fcdmbench.cli.models"}),
    ],
)
def test_a_command_loads_only_its_own_module(argv, own):
    shared = {
        "fcdmbench.cli",
        "fcdmbench.cli.main",
        "fcdmbench.cli.output",
        "fcdmbench.cli.options",
    }
    everything = _modules_after(argv)
    heavy = sorted(m for m in HEAVY if m in everything)
    assert not heavy, heavy
    if argv[0] != "flops":  # flops --help names the record schema
        assert "fcdmbench.records" not in everything
    loaded = {m for m in everything if m.startswith("fcdmbench.cli")}
    assert "fcdmbench.cli.main" in loaded, loaded  # the list was read
    assert own <= loaded, loaded
    others = {f"fcdmbench.cli.{module}" for module, _ in COMMANDS.values()} - own
    assert not loaded & others, sorted(loaded & others)
    assert loaded <= shared | own | {"fcdmbench.cli.selection"}, sorted(loaded)


def test_every_listed_command_loads_under_its_name():
    """Each `COMMANDS` entry's module registers a command of that name, whose root-help line is
    the table's."""
    import typer

    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name, (_, summary) in COMMANDS.items():
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=200) == summary
    assert group.get_command(ctx, "flopz") is None
