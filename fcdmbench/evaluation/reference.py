"""ADM's official files: the manifest, where they live, fetching and sha256 verification.

`reference_batches/manifest.toml` lists each file (name, URL, sha256, size, source, status).
Files live in ``--reference-dir``, else ``$FCDMBENCH_REFERENCE_DIR``, else
``<cache root>/reference``. An entry whose sha256 is unknown has ``status = "unverified"``:
such files are used, and the record says the hash could not be checked.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fcdmbench.errors import ConfigError, InputError, ReferenceBatchError
from fcdmbench.evaluation.cache import cache_root
from fcdmbench.files import file_sha256

__all__ = [
    "ManifestEntry",
    "VerifyResult",
    "fetch_reference",
    "load_manifest",
    "reference_dir",
    "resolve_reference",
    "verify_file",
]

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "reference_batches" / "manifest.toml"


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


def load_manifest(path: Path | None = None) -> dict[str, ManifestEntry]:
    """Parse the manifest (``$FCDMBENCH_MANIFEST`` overrides the repo copy)."""
    path = Path(path or os.environ.get("FCDMBENCH_MANIFEST") or MANIFEST_PATH)
    if not path.exists():
        raise InputError(
            f"reference manifest {path} not found",
            hint="run from a fcdmbench checkout or set FCDMBENCH_MANIFEST",
        )
    data = tomllib.loads(path.read_text())
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


def resolve_reference(
    name_or_path: str, directory: str | Path | None = None, cache_dir: str | Path | None = None
) -> tuple[Path, VerifyResult | None]:
    """Path of a manifest name (checked against its sha256) or of a given ``.npz`` path.

    Raises:
        ReferenceBatchError: the file is missing (the message says which file to place where)
            or its sha256 differs from the manifest.
    """
    if name_or_path.endswith(".npz") or os.sep in name_or_path:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise ReferenceBatchError(
                f"reference batch {path} not found",
                hint="pass an ADM reference .npz or a name: imagenet256",
            )
        return path, None
    entry = _entry(name_or_path, load_manifest())
    path = reference_dir(directory, cache_dir) / entry.filename
    result = verify_file(entry, path)
    if result.status == "missing":
        raise ReferenceBatchError(
            f"{entry.kind.replace('_', ' ')} '{entry.name}' not found at {path}",
            hint=f"run `fcdmbench reference fetch {entry.name}`, or offline download {entry.url} "
            f"elsewhere and place it at {path}",
        )
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
    import urllib.error
    import urllib.request

    entry = _entry(name, load_manifest())
    path = reference_dir(directory, cache_dir) / entry.filename
    if not path.exists():
        from fcdmbench.files import atomic_output

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
