"""Fixtures for report tests: fixed GMACs/params instead of meta counting, synthetic records
(`report_records`: real record shapes with made-up GPU numbers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_records import synthetic_eval, synthetic_throughput

from fcdmbench.records.io import write_record
from fcdmbench.reporting.collect import Measurements, load_records
from fcdmbench.reporting.measure import MetaCount

GOLDEN = Path(__file__).parent / "golden"

#: Fixed counts (not measurements): round numbers near the real ones so deltas are readable.
STUB_GMACS = {
    ("fcdm-s", 256): 3.0,
    ("fcdm-xl", 256): 64.5,
    ("fcdm-xl", 512): 258.0,
    ("dit-xl-2", 256): 118.0,
}
STUB_PARAMS = {"fcdm-s": 32_700_000, "fcdm-xl": 698_754_056, "dit-xl-2": 675_000_000}


def stub_count(name: str, resolution: int = 256, **overrides) -> MetaCount:
    if overrides or (name, resolution) not in STUB_GMACS:
        raise KeyError(f"no stub for {name} @ {resolution} {overrides}")
    return MetaCount(name, resolution, STUB_GMACS[(name, resolution)], STUB_PARAMS[name])


@pytest.fixture
def stub_registry(monkeypatch):
    """Pretend exactly the stubbed models are registered (golden output must not depend on which
    baselines are merged)."""
    import fcdmbench.reporting.collect as collect

    names = {name for name, _ in STUB_GMACS}
    monkeypatch.setattr(collect, "is_registered", lambda name: name in names)


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory) -> Path:
    """A folder of synthetic records: bf16 and tf32 throughput, one FID-50K eval."""
    root = tmp_path_factory.mktemp("records")
    write_record(
        root / "throughput_bf16.json",
        synthetic_throughput({"fcdm-xl": 300.0, "fcdm-s": 2500.0}, "bf16"),
    )
    write_record(root / "throughput_tf32.json", synthetic_throughput({"fcdm-xl": 250.0}, "tf32"))
    write_record(root / "eval_fcdm_xl_400k.json", synthetic_eval())
    return root


@pytest.fixture
def measurements(stub_registry, synthetic_records) -> Measurements:
    warnings: list[str] = []
    records = load_records([synthetic_records], warn=warnings.append)
    assert warnings == []
    return Measurements(records, count=stub_count, warn=warnings.append)
