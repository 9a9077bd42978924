"""`fcdmbench reference fetch|verify`: ADM's reference files and the DINOv2 weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

reference_app = typer.Typer(no_args_is_help=True, help="Fetch and verify ADM's official files.")


def register(app: typer.Typer) -> None:
    app.add_typer(reference_app, name="reference")


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--reference-dir",
        metavar="DIR",
        envvar="FCDMBENCH_REFERENCE_DIR",
        help="Folder of the reference files (default: ~/.cache/fcdmbench/reference on Linux).",
    ),
]


@reference_app.command("fetch")
def fetch_command(
    names: Annotated[list[str], typer.Argument(help="inception, imagenet256, imagenet512.")],
    reference_dir: DirOption = None,
) -> None:
    """Download ADM's official files (if absent) and check them.

    Each file's sha256 is checked against the manifest; every failure is listed in one run.

    Example: fcdmbench reference fetch inception imagenet256
    """
    from fcdmbench.cli.output import stderr, stdout
    from fcdmbench.evaluation.reference import fetch_reference, load_manifest
    from fcdmbench.preflight.checks import Preflight

    manifest = load_manifest()
    _check_names(names, manifest)
    failures = Preflight()
    for name in names:
        with stderr.status(f"fetching {name}"):
            result = failures.check(fetch_reference, name, reference_dir)
        if result is None:
            continue
        stdout.print(f"{name}: {result.path} [{result.status}] sha256 {result.sha256}")
        if result.status == "unverified":
            stderr.print(f"note: the manifest has no sha256 for {name}; the file is unverified")
    failures.raise_all(
        "offline: download each URL above elsewhere and place it at the path shown, then run "
        "`fcdmbench reference verify`",
        summary=f"of {len(names)} files could not be fetched",
    )


def _check_names(names, manifest) -> None:
    from fcdmbench.errors import ConfigError

    unknown = [n for n in names or () if n not in manifest]
    if unknown:
        raise ConfigError(
            f"unknown reference {', '.join(map(repr, unknown))}",
            hint=f"known: {', '.join(manifest)}",
        )


#: What each `reference verify` status means.
NOTES = {
    "ok": "sha256 matches the manifest",
    "missing": "not present",
    "mismatch": "sha256 DIFFERS from the manifest",
    "unverified": "present; the manifest has no sha256, so it cannot be checked",
}


@reference_app.command("verify")
def verify_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Entries to check (default: all).")
    ] = None,
    reference_dir: DirOption = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Pass files that are present but have no sha256 in the manifest.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check present files against the manifest's sha256.

    Exits 5 unless every file named is present and verified.

    A missing file, a sha256 mismatch, or a file the manifest has no sha256 for (unless
    --allow-unverified) fails the check. Each present file's sha256 is printed.

    Example: fcdmbench reference verify
    """
    from rich.table import Table

    from fcdmbench.cli.output import print_json, print_table
    from fcdmbench.errors import CheckFailedError
    from fcdmbench.evaluation.reference import load_manifest, verify_file
    from fcdmbench.evaluation.reference import reference_dir as resolve_dir

    manifest = load_manifest()
    folder = resolve_dir(reference_dir)
    _check_names(names, manifest)
    results = [verify_file(manifest[n], folder / manifest[n].filename) for n in names or manifest]
    if as_json:
        print_json(
            [
                {
                    "name": r.name,
                    "path": r.path,
                    "status": r.status,
                    "sha256": r.sha256,
                    "note": NOTES[r.status],
                }
                for r in results
            ]
        )
    else:
        table = Table(title=f"reference files in {folder}")
        for column in ("name", "status", "sha256", "note"):
            table.add_column(column)
        for r in results:
            table.add_row(r.name, r.status, r.sha256 or "—", NOTES[r.status])
        print_table(table)
    failing = ("missing", "mismatch") + (() if allow_unverified else ("unverified",))
    bad = {s: [r.name for r in results if r.status == s] for s in failing}
    bad = {s: n for s, n in bad.items() if n}
    if not bad:
        return
    hints = []
    if "mismatch" in bad:
        hints.append(f"delete {', '.join(bad['mismatch'])} and fetch again")
    if "missing" in bad or "mismatch" in bad:
        fetch = " ".join(bad.get("missing", []) + bad.get("mismatch", []))
        hints.append(
            f"run `fcdmbench reference fetch {fetch}` (offline, it says which URL to place where "
            f"in {folder})"
        )
    if "unverified" in bad:
        hints.append(
            "an unverified file cannot be checked until the manifest carries its sha256; "
            "pass --allow-unverified to accept present files"
        )
    raise CheckFailedError(
        "reference files not verified: "
        + "; ".join(f"{s}: {', '.join(n)}" for s, n in bad.items()),
        hint="; ".join(hints),
    )
