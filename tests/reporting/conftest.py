"""Fixtures for report tests: fixed GMACs/params instead of meta counting, synthetic records."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcdmbench.reporting.collect import Measurements, load_records
from fcdmbench.reporting.measure import MetaCount

FIXTURES = Path(__file__).parent / "fixtures"
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
    import fcdmbench.reporting.measure as measure

    names = {name for name, _ in STUB_GMACS}
    monkeypatch.setattr(measure, "is_registered", lambda name: name in names)


@pytest.fixture
def measurements(stub_registry) -> Measurements:
    warnings: list[str] = []
    records = load_records([FIXTURES / "records"], warn=warnings.append)
    assert warnings == []
    return Measurements(records, count=stub_count, warn=warnings.append)
