"""Preflight of `fcdmbench report`: the record paths, the output folder and the trace workers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fcdmbench.errors import InputError
from fcdmbench.perfmodel.trace_cache import trace_workers
from fcdmbench.preflight import Preflight, check_output_dir

__all__ = ["preflight_report"]


def preflight_report(*, records: Iterable[Path], out: Path | None) -> None:
    """`fcdmbench report`: every --records path exists; the output folder obeys the rule."""
    pf = Preflight()
    for path in records:
        if not Path(path).expanduser().exists():
            pf.add(
                InputError(
                    f"--records {path} does not exist",
                    hint="name record files (.json) or folders holding them",
                )
            )
    if out is not None:
        pf.check(check_output_dir, out)
    pf.check(trace_workers)  # the claims section audits Tables 2 and 4
    pf.raise_all()
