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
    from fcdmbench.evaluation.reference import check_names, fetch_reference, load_manifest
    from fcdmbench.preflight import Preflight

    manifest = load_manifest()
    check_names(names, manifest)
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
    from fcdmbench.cli.output import left, print_json, show_table
    from fcdmbench.evaluation.reference import (
        check_names,
        load_manifest,
        require_verified,
        verify_file,
    )
    from fcdmbench.evaluation.reference import reference_dir as resolve_dir

    manifest = load_manifest()
    folder = resolve_dir(reference_dir)
    check_names(names, manifest)
    results = [verify_file(manifest[n], folder / manifest[n].filename) for n in names or manifest]
    if as_json:
        print_json([{**_fields(r), "note": NOTES[r.status]} for r in results])
    else:
        columns = [
            left("name", lambda r: r.name),
            left("status", lambda r: r.status),
            left("sha256", lambda r: r.sha256 or "—"),
            left("note", lambda r: NOTES[r.status]),
        ]
        show_table(columns, results, f"reference files in {folder}")
    require_verified(results, folder, allow_unverified)


def _fields(result) -> dict:
    return {k: getattr(result, k) for k in ("name", "path", "status", "sha256")}
