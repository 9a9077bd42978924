"""The `fcdmbench` command: one typer app; subcommand modules attach themselves via `register`.

Every error a user can cause ends the same way: an ``error:`` line, a ``hint:`` line, and an exit
code (README "Errors and exit codes"). Errors derived from `FcdmbenchError` are caught here, once,
with the class's exit code; ``--debug`` re-raises them with the traceback. click's usage errors
(unknown command or option, a bad or missing value) are printed in the same format, exit 2,
instead of typer's box. Torch is imported only inside commands, so ``--help`` and ``models list``
stay fast.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from fcdmbench import __version__
from fcdmbench.errors import ConfigError, FcdmbenchError

#: Each command: the module whose ``register(app)`` adds it, and its line in the root help, in
#: help order. A module is imported only when its command runs: `fcdmbench flops` loads no code
#: of the other commands, and `fcdmbench --help` none at all.
COMMANDS: dict[str, tuple[str, str]] = {
    "flops": ("flops", "Count MACs per image (the DiT/paper convention)."),
    "throughput": ("throughput", "Measure images/s per network evaluation (it/s)."),
    "roofline": ("roofline", "Predict an upper bound of images/s (a model)."),
    "train-roofline": ("train_roofline", "Predict an upper bound of training steps/s (a model)."),
    "memory": ("memory", "Predict memory per GPU and whether it fits a card."),
    "audit": ("audit", "Audit the paper's throughput figures against their bounds."),
    "sample": ("sample", "Sample a checkpoint into an ADM-format .npz and its record."),
    "eval": ("evaluate", "Compute FID, sFID, IS, precision and recall as ADM does."),
    "report": ("report", "Rebuild the paper's tables and figures beside records."),
    "models": ("models", "List and inspect registered models."),
    "baseline": ("baseline", "Per-GPU throughput baselines: update, compare, list."),
    "reference": ("reference", "Fetch and verify ADM's official files."),
    "analyze": ("analyze", "Analyses of trained models."),
}

#: Options that take several values after one flag (``--models fcdm-xl dit-xl``).
MULTI_VALUE_OPTIONS: tuple[str, ...] = (
    "--models",
    "-m",
    "--records",
    "--tables",
    "--devices",
    "--settings",
)


#: Help text lines are at most this wide (narrower terminals wrap narrower).
HELP_WIDTH = 100
_NO_BREAK_HYPHEN = "\u2011"


class HelpFormatter(typer.Context.formatter_class):
    """click's plain help layout, except that a hyphenated word (a model, device or option name)
    is never broken at its hyphen (`a100-80gb-sxm` stays whole), and an ``Example:`` paragraph
    is printed as a command to copy: on lines of its own, continued with ``\\``."""

    def write(self, string: str) -> None:
        super().write(string.replace(_NO_BREAK_HYPHEN, "-"))

    def write_text(self, text: str) -> None:
        paragraphs = [
            _example_block(p, self.width - self.current_indent) if p.startswith("Example:") else p
            for p in text.split("\n\n")
        ]
        super().write_text("\n\n".join(paragraphs).replace("-", _NO_BREAK_HYPHEN))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = [(_plain_metavar(term), text.replace("-", _NO_BREAK_HYPHEN)) for term, text in rows]
        super().write_dl(rows, col_max, col_spacing)


#: typer's type placeholders in the option column, as click's usual upper-case names.
_METAVARS = {
    "<int range>": "INT",
    "<int>": "INT",
    "<float range>": "FLOAT",
    "<float>": "FLOAT",
    "<str>": "TEXT",
    "<list[str]>": "VALUE...",
}


def _plain_metavar(term: str) -> str:
    """``--batch <int range>`` as ``--batch INT``; an argument's own metavar (``SAMPLES.npz``)
    loses the ``<path>`` typer adds after it."""
    term = re.sub(r"^([A-Z][^ ]*) <path>$", r"\1", term)
    for placeholder, name in _METAVARS.items():
        term = term.replace(placeholder, name)
    return term


def _example_block(paragraph: str, width: int) -> str:
    """``Example: cmd`` as a paragraph click leaves unwrapped (``\\b``): ``Example:``, then the
    command indented, broken before an option with a shell continuation where it exceeds `width`.
    """
    groups = re.split(r" (?=-)", " ".join(paragraph.removeprefix("Example:").split()))
    lines = ["  " + groups[0]]
    for group in groups[1:]:  # an option with its values
        if len(lines[-1]) + len(group) + 3 > width:
            lines[-1] += " \\"
            lines.append("      " + group)
        else:
            lines[-1] += " " + group
    return "\b\nExample:\n" + "\n".join(lines)


class HelpContext(typer.Context):
    formatter_class = HelpFormatter


def _use_help_context(command: Any) -> None:
    """Every command of the tree formats its help with `HelpFormatter`."""
    command.context_class = HelpContext
    for sub in getattr(command, "commands", {}).values():
        _use_help_context(sub)


class FcdmbenchGroup(TyperGroup):
    """Root group: loads each command's module when the command is used (`COMMANDS`), expands
    multi-value options, turns `FcdmbenchError` into exit codes, and formats every command's
    help (`HelpFormatter`).

    Doing this here (not in a wrapper script) means typer's `CliRunner` sees exactly what a user
    sees.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _use_help_context(self)

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, name: str):
        if name not in COMMANDS:
            return None
        if name not in self.commands:
            module, summary = COMMANDS[name]
            sub = typer.Typer(rich_markup_mode=None)  # plain help, as the root
            importlib.import_module(f"fcdmbench.cli.{module}").register(sub)
            command = typer.main.get_group(sub).commands[name]
            command.short_help = summary
            _use_help_context(command)
            self.commands[name] = command
        return self.commands[name]

    def format_commands(self, ctx, formatter) -> None:
        """The root help's command list, from `COMMANDS` (no command module is imported)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = normalize_argv(list(sys.argv[1:] if args is None else args))
        if args[:1] == ["roofline"] and _is_train_mode(args):  # the command that moved
            sys.exit(report_error(MOVED_TRAIN_ROOFLINE))
        _state["debug"] = "--debug" in args
        if _state["debug"]:  # TensorFlow's start-up logging too (evaluation.inception)
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's usage errors derive from it
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `fcdmbench`: its message is help
                exc.show()
                sys.exit(2)
            sys.exit(report_click_error(exc))
        except typer.Abort:
            sys.exit(report_error(FcdmbenchError("aborted", hint="rerun the command")))
        sys.exit(rv if isinstance(rv, int) else 0)

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
    # Plain help (click's layout): rich's option panels truncate long option names at 80 columns
    # and re-wrap hard-wrapped docstrings mid-sentence.
    rich_markup_mode=None,
    context_settings={"max_content_width": HELP_WIDTH},
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
        bool,
        typer.Option(
            "--debug", help="Re-raise errors with the full traceback; show TensorFlow's logging."
        ),
    ] = False,
) -> None:
    _state["debug"] = _state["debug"] or debug


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


#: ``roofline --mode train`` became ``train-roofline``.
MOVED_TRAIN_ROOFLINE = ConfigError(
    "the training roofline is its own command now: roofline --mode train is gone",
    hint="use fcdmbench train-roofline with the same options (`fcdmbench train-roofline --help`)",
)


def _is_train_mode(args: list[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--mode=train" in args or any(a == "--mode" and b == "train" for a, b in pairs)


def report_error(exc: FcdmbenchError) -> int:
    """Print ``error:`` and ``hint:`` lines on stderr; return the exit code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        console.print(f"[bold yellow]hint:[/] {escape(exc.hint)}")
    return exc.exit_code


def report_click_error(exc: typer.TyperException) -> int:
    """Print a click/typer usage error as ``error:``/``hint:`` lines; return its exit code (2)."""
    message = exc.format_message().strip().rstrip(".").replace("Value error, ", "")
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    hint = None
    if ctx is not None:
        hint = f"`{ctx.command_path} --help` lists every option"
        match = re.match(r"no such command '([^']*)'", message)
        if match and hasattr(ctx.command, "list_commands"):
            message = message.split(". Did you mean")[0]
            names = ctx.command.list_commands(ctx)
            close = difflib.get_close_matches(match.group(1), names, n=2, cutoff=0.5)
            hint = (f"did you mean {' or '.join(close)}? " if close else "") + (
                f"commands: {', '.join(names)}"
            )
        elif example := _example(ctx.command):
            hint = f"e.g. `{example}`; {hint}"
    error = FcdmbenchError(message, hint=hint)
    report_error(error)
    return exc.exit_code


def _example(command: Any) -> str | None:
    """The ``Example: ...`` line of a command's docstring (joined when it wraps)."""
    text = command.help or ""
    _, found, rest = text.partition("Example:")
    if not found:
        return None
    return " ".join(rest.split("\n\n")[0].split("Example:")[0].split()) or None


def run() -> None:
    """Console-script entry point."""
    app(prog_name="fcdmbench")
