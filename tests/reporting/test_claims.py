"""The report's efficiency-claims section: every row is marked "model", the published side is the
paper's, and the model side comes from the roofline and memory commands' own code."""

from __future__ import annotations

import pytest

from fcdmbench.perfmodel.roofline import run_roofline
from fcdmbench.precision import Precision
from fcdmbench.records.roofline import RooflineConfig
from fcdmbench.reporting import claims
from fcdmbench.reporting.render import table_to_markdown


@pytest.fixture
def small(monkeypatch):
    """S-size stand-ins (the XL tables take ~10 s on 2 cores; the code path is the same)."""
    monkeypatch.setattr(claims, "FCDM", "fcdm-s")
    monkeypatch.setattr(claims, "DIT", "dit-s-2")
    monkeypatch.setattr(claims, "BATCH", 2)


def test_claim_tables(small, monkeypatch):
    from fcdmbench.perfmodel import memory

    real = memory.measure_memory

    def smaller(models, config, **kwargs):  # 2 rows per GPU instead of 64
        import dataclasses

        return real(models, dataclasses.replace(config, batch=8), **kwargs)

    monkeypatch.setattr(memory, "measure_memory", smaller)
    monkeypatch.setattr(claims, "TRAINING_SPEEDS", ())  # tests/perfmodel/test_train_roofline.py
    ratio, scaling, training, _ = claims.build_claim_tables()
    for table in (ratio, scaling, training):
        assert {row[-1] for row in table.rows} == {"model"}
        assert table.notes and "model" in table_to_markdown(table)
    assert len(ratio.rows) == len(claims.DEVICES) * len(claims.SETTINGS)
    # the bound ratio is the roofline command's own figure
    fcdm, dit = run_roofline(
        RooflineConfig(
            models=("fcdm-s", "dit-s-2"), device="h100-sxm", precision=Precision.TF32, batch=2
        )
    ).results
    row = next(r for r in ratio.rows if r[:2] == ("h100-sxm", "tf32"))
    assert row[4] == round(fcdm.img_per_s / dit.img_per_s, 2)
    assert {r[0] for r in training.rows} == {"256 px, 4 x rtx-4090", "512 px, 4 x h100-sxm"}
    assert all(r[5] in ("yes", "no") for r in training.rows)


def test_published_side_is_the_papers():
    assert claims._published("fcdm-xl", 256) == 272.7
    assert claims._published("dit-xl-2", 256) == 76.9
    assert claims._published("fcdm-xl", 512) == 129.6
    assert claims._published("dit-xl-2", 512) == 18.6


def test_no_meta_no_claims():
    assert claims.claim_tables(use_meta=False) == []
