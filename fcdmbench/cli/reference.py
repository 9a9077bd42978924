"""`fcdmbench reference fetch|verify`: ADM's official reference batches and Inception graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

reference_app = typer.Typer(no_args_is_help=True, help="Fetch and verify ADM's official files.")


def register(app: typer.Typer) -> None:
    app.add_typer(reference_app, name="reference")


DirOption = Annotated[
    Path | None, typer.Option("--reference-dir", metavar="DIR", envvar="FCDMBENCH_REFERENCE_DIR")
]


@reference_app.command("fetch")
def fetch_command(
    names: Annotated[list[str], typer.Argument(help="inception, imagenet256, imagenet512.")],
    reference_dir: DirOption = None,
) -> None:
    """Download official files (if absent) and check their sha256.

    Example: fcdmbench reference fetch inception imagenet256
    """
    from fcdmbench.cli.output import stderr, stdout
    from fcdmbench.evaluation.reference import fetch_reference

    for name in names:
        with stderr.status(f"fetching {name}"):
            result = fetch_reference(name, reference_dir)
        stdout.print(f"{name}: {result.path} [{result.status}] sha256 {result.sha256}")
        if result.status == "unverified":
            stderr.print(f"note: the manifest has no sha256 for {name}; the file is unverified")


@reference_app.command("verify")
def verify_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Entries to check (default: all).")
    ] = None,
    reference_dir: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the present files against reference_batches/manifest.toml (exit 5 on a mismatch).

    Example: fcdmbench reference verify
    """
    from rich.table import Table

    from fcdmbench.cli.output import print_json, print_table
    from fcdmbench.errors import CheckFailedError
    from fcdmbench.evaluation.reference import (
        load_manifest,
        verify_file,
    )
    from fcdmbench.evaluation.reference import (
        reference_dir as resolve_dir,
    )

    manifest = load_manifest()
    folder = resolve_dir(reference_dir)
    from fcdmbench.errors import ConfigError

    unknown = [n for n in names or () if n not in manifest]
    if unknown:
        raise ConfigError(f"unknown reference {unknown}; known: {', '.join(manifest)}")
    results = [verify_file(manifest[n], folder / manifest[n].filename) for n in names or manifest]
    notes = {
        "ok": "sha256 matches the manifest",
        "missing": "not present",
        "mismatch": "sha256 DIFFERS from the manifest",
        "unverified": "present; manifest has no sha256, so it cannot be checked",
    }
    if as_json:
        print_json(
            [
                {
                    "name": r.name,
                    "path": r.path,
                    "status": r.status,
                    "sha256": r.sha256,
                    "note": notes[r.status],
                }
                for r in results
            ]
        )
    else:
        table = Table(title=f"reference files in {folder}")
        for column in ("name", "status", "sha256", "note"):
            table.add_column(column)
        for r in results:
            table.add_row(r.name, r.status, r.sha256 or "—", notes[r.status])
        print_table(table)
    bad = [r.name for r in results if r.status == "mismatch"]
    if bad:
        raise CheckFailedError(
            f"sha256 mismatch for {', '.join(bad)}",
            hint="delete the file(s) and run `fcdmbench reference fetch`",
        )
