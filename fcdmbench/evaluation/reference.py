"""ADM's official files: the manifest, where they live, fetching and sha256 verification.

The manifest, ``manifest.toml`` beside this module (shipped inside the package), lists each file
(name, URL, sha256, size, source, status).
Files live in ``--reference-dir``, else ``$FCDMBENCH_REFERENCE_DIR``, else
``<cache root>/reference``. An entry whose sha256 is unknown has ``status = "unverified"``:
such files are used, and the record says the hash could not be checked.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fcdmbench.errors import CheckFailedError, ConfigError, InputError, ReferenceBatchError
from fcdmbench.files import cache_root, file_sha256

__all__ = [
    "ManifestEntry",
    "ReferenceLocation",
    "VerifyResult",
    "fetch_reference",
    "load_manifest",
    "locate_reference",
    "missing_file_error",
    "reference_dir",
    "resolve_reference",
    "check_names",
    "require_verified",
    "verify_file",
]


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One official file."""

    name: str
    filename: str
    url: str
    sha256: str
    size: int
    status: str
    source: str
    kind: str
    resolution: int | None = None

    @property
    def is_verifiable(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of checking one file against the manifest."""

    name: str
    path: Path
    present: bool
    sha256: str | None
    status: str  # "ok", "missing", "mismatch", "unverified"


@dataclass(frozen=True, slots=True)
class ReferenceLocation:
    """Where a reference file is (found, not hashed). `entry` is None for a user-given path."""

    path: Path
    entry: ManifestEntry | None


def load_manifest(path: Path | None = None) -> dict[str, ManifestEntry]:
    """Parse the manifest: `path`, else ``$FCDMBENCH_MANIFEST``, else the package's own copy."""
    path = path or os.environ.get("FCDMBENCH_MANIFEST")
    if path is None:
        text = resources.files(__package__).joinpath("manifest.toml").read_text()
    elif Path(path).is_file():
        text = Path(path).read_text()
    else:
        raise InputError(
            f"reference manifest {path} not found",
            hint="point FCDMBENCH_MANIFEST at a manifest.toml, or unset it to use the package's",
        )
    data = tomllib.loads(text)
    return {name: ManifestEntry(name=name, **fields) for name, fields in data.items()}


def reference_dir(directory: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Folder holding the official files."""
    if directory:
        return Path(directory).expanduser()
    if os.environ.get("FCDMBENCH_REFERENCE_DIR"):
        return Path(os.environ["FCDMBENCH_REFERENCE_DIR"]).expanduser()
    return cache_root(cache_dir) / "reference"


def _entry(name: str, manifest: dict[str, ManifestEntry]) -> ManifestEntry:
    if name not in manifest:
        raise ConfigError(
            f"unknown reference '{name}'; known: {', '.join(manifest)}",
            hint="or pass a path to an ADM reference batch .npz",
        )
    return manifest[name]


def verify_file(entry: ManifestEntry, path: Path) -> VerifyResult:
    """Hash `path` and compare with the manifest."""
    if not path.exists():
        return VerifyResult(entry.name, path, False, None, "missing")
    digest = file_sha256(path)
    if not entry.is_verifiable:
        return VerifyResult(entry.name, path, True, digest, "unverified")
    return VerifyResult(
        entry.name, path, True, digest, "ok" if digest == entry.sha256 else "mismatch"
    )


def check_names(names, manifest: dict[str, ManifestEntry]) -> None:
    """Every name in `names` is a manifest entry.

    Raises:
        ConfigError: naming the unknown ones and the known ones.
    """
    unknown = [n for n in names or () if n not in manifest]
    if unknown:
        raise ConfigError(
            f"unknown reference {', '.join(map(repr, unknown))}",
            hint=f"known: {', '.join(manifest)}",
        )


def require_verified(
    results: list[VerifyResult], folder: Path, allow_unverified: bool = False
) -> None:
    """Pass only when every file is present and matches the manifest's sha256 (a file without
    one passes with `allow_unverified`).

    Raises:
        CheckFailedError: naming the files per status, with what to do about each.
    """
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


def is_path_like(name_or_path: str) -> bool:
    """A ``--ref``/``--inception`` value naming a file rather than a manifest entry."""
    return name_or_path.endswith((".npz", ".pb")) or os.sep in name_or_path


def missing_file_error(entry: ManifestEntry, path: Path) -> ReferenceBatchError:
    """The error for an official file absent from `path`: what to fetch or where to put it."""
    what = {"graph": "Inception graph", "reference_batch": "reference batch"}.get(
        entry.kind, entry.kind.replace("_", " ")
    )
    return ReferenceBatchError(
        f"{what} '{entry.name}' not found at {path}",
        hint=f"run `fcdmbench reference fetch {entry.name}`, or offline download {entry.url} "
        f"elsewhere and place it at {path}",
    )


def locate_reference(
    name_or_path: str, directory: str | Path | None = None, cache_dir: str | Path | None = None
) -> ReferenceLocation:
    """Find a manifest name's file, or check a given path, without reading or hashing it.

    Raises:
        ConfigError: an unknown manifest name.
        ReferenceBatchError: the file is missing (the message says which file to place where)
            or is a directory.
    """
    if is_path_like(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise ReferenceBatchError(
                f"reference file {path} not found",
                hint="pass an ADM reference .npz or a manifest name: "
                + ", ".join(n for n, e in load_manifest().items() if e.kind == "reference_batch"),
            )
        entry = None
    else:
        entry = _entry(name_or_path, load_manifest())
        path = reference_dir(directory, cache_dir) / entry.filename
        if not path.exists():
            raise missing_file_error(entry, path)
    if path.is_dir():
        raise ReferenceBatchError(
            f"reference file {path} is a directory", hint="point at the file itself"
        )
    return ReferenceLocation(path, entry)


def resolve_reference(
    name_or_path: str, directory: str | Path | None = None, cache_dir: str | Path | None = None
) -> tuple[Path, VerifyResult | None]:
    """Path of a manifest name (checked against its sha256) or of a given ``.npz`` path.

    Raises:
        ReferenceBatchError: the file is missing (the message says which file to place where)
            or its sha256 differs from the manifest.
    """
    location = locate_reference(name_or_path, directory, cache_dir)
    path, entry = location.path, location.entry
    if entry is None:
        return path, None
    result = verify_file(entry, path)
    if result.status == "mismatch":
        raise ReferenceBatchError(
            f"{path} has sha256 {result.sha256}, but the manifest says {entry.sha256}",
            hint=f"delete it and run `fcdmbench reference fetch {entry.name}`",
        )
    return path, result


def fetch_reference(
    name: str,
    directory: str | Path | None = None,
    cache_dir: str | Path | None = None,
    on_progress=None,
) -> VerifyResult:
    """Download one official file (if absent) to the reference folder and verify it.

    Raises:
        ReferenceBatchError: no network (the message says what to place where) or bad sha256.
    """

    entry = _entry(name, load_manifest())
    path = reference_dir(directory, cache_dir) / entry.filename
    if not path.exists():
        from fcdmbench.files import atomic_output

        created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        try:
            with (
                atomic_output(path, make_parents=True) as tmp,
                urllib.request.urlopen(entry.url, timeout=30) as response,
                open(tmp, "wb") as fh,
            ):
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while block := response.read(1 << 20):
                    fh.write(block)
                    done += len(block)
                    if on_progress:
                        on_progress(done, total)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            for folder in created:  # leave no empty folder behind a failed download
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise ReferenceBatchError(
                f"cannot download {entry.url} ({exc})",
                hint=f"offline: download it elsewhere and place it at {path}",
            ) from exc
    result = verify_file(entry, path)
    if result.status == "mismatch":
        raise ReferenceBatchError(
            f"downloaded {path} has sha256 {result.sha256}, manifest says {entry.sha256}",
            hint="delete the file and fetch again; if it persists, the upstream file changed",
        )
    return result
