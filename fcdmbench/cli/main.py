"""The `fcdmbench` command: one typer app; subcommand modules attach themselves via `register`.

Errors derived from `FcdmbenchError` are caught here, once, and printed as ``error:``/``hint:``
lines on stderr with the class's exit code; ``--debug`` re-raises them with the traceback.
Torch is imported only inside commands, so ``--help`` and ``models list`` stay fast.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from fcdmbench import __version__
from fcdmbench.errors import FcdmbenchError

#: Modules with a ``register(app)`` function adding their commands (order = help order).
COMMAND_MODULES: tuple[str, ...] = (
    "fcdmbench.cli.models",
    "fcdmbench.cli.flops",
    "fcdmbench.cli.throughput",
    "fcdmbench.cli.roofline",
    "fcdmbench.cli.memory",
    "fcdmbench.cli.sample",
    "fcdmbench.cli.evaluate",
    "fcdmbench.cli.reference",
    "fcdmbench.cli.analyze",
    "fcdmbench.cli.report",
)

#: Options that take several values after one flag (``--models fcdm-xl dit-xl``).
MULTI_VALUE_OPTIONS: tuple[str, ...] = ("--models", "-m", "--records")


class FcdmbenchGroup(TyperGroup):
    """Root group: expands multi-value options and turns `FcdmbenchError` into exit codes.

    Doing both here (not in a wrapper script) means typer's `CliRunner` sees exactly what a user
    sees.
    """

    def main(self, args=None, *pargs, **kwargs):
        args = normalize_argv(list(sys.argv[1:] if args is None else args))
        _state["debug"] = "--debug" in args
        return super().main(args, *pargs, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FcdmbenchError as exc:
            if _state["debug"]:
                raise
            raise typer.Exit(report_error(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="fcdmbench",
    cls=FcdmbenchGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="Compare FCDM against DiT, DiC and DiCo on equal terms: registry, FLOPs, throughput, "
    "ADM-compatible evaluation and reports.",
)
_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fcdmbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Re-raise errors with the full traceback.")
    ] = False,
) -> None:
    _state["debug"] = _state["debug"] or debug


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def normalize_argv(argv: list[str]) -> list[str]:
    """Expand ``--models a b c`` into ``--models a --models b --models c``.

    Click options have a fixed arity; the required command line ``fcdmbench flops --models fcdm-xl
    dit-xl`` passes several values after one flag. Values run until the next token that starts
    with ``-`` (or ``--`` ends option parsing).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        flag, eq, inline = token.partition("=")
        if flag in MULTI_VALUE_OPTIONS:
            values = [inline] if eq else []
            i += 1
            while i < len(argv) and not argv[i].startswith("-"):
                values.append(argv[i])
                i += 1
            if not values:  # let click report the missing value
                out.append(token)
            for value in values:
                out.extend([flag, value])
            continue
        if token == "--":
            out.extend(argv[i:])
            break
        out.append(token)
        i += 1
    return out


def report_error(exc: FcdmbenchError) -> int:
    """Print ``error:`` and ``hint:`` lines on stderr; return the exit code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        console.print(f"[bold yellow]hint:[/] {escape(exc.hint)}")
    return exc.exit_code


def run() -> None:
    """Console-script entry point."""
    app(prog_name="fcdmbench")
