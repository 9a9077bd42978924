"""Records are read leniently: missing fields become warnings and '—', never a crash."""

from __future__ import annotations

from pathlib import Path

from fcdmbench.reporting.collect import Measurements, load_records

FIXTURES = Path(__file__).parent / "fixtures"


def test_broken_records_warn_and_keep_what_is_usable():
    warnings: list[str] = []
    records = load_records([FIXTURES / "broken", FIXTURES / "nope"], warn=warnings.append)
    assert [p.model for p in records.throughput] == ["fcdm-b"]
    assert records.throughput[0].precision == "unknown"
    assert records.throughput[0].device_slug == "unknown-device"
    assert [(p.model, p.gmacs) for p in records.flops] == [("fcdm-s", 3.1)]  # gflops / 2
    assert records.evals == []
    text = "\n".join(warnings)
    for expected in (
        "does not exist",
        "not readable JSON",
        "something.else/1",
        "names no model",
        "lacks model or img_per_s",
        "lacks model or gmacs",
        "precision or env",
    ):
        assert expected in text, expected


def test_flops_record_beats_meta_count():
    records = load_records([FIXTURES / "broken"])
    m = Measurements(records, count=lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert m.gmacs("fcdm-s", 256).value == 3.1
    assert m.gmacs("fcdm-s", 256).on == "record"


def test_throughput_prefers_paper_default_order_and_names_alias():
    records = load_records([FIXTURES / "records"])
    m = Measurements(records)
    assert m.throughput("fcdm-s").value == 2500.0  # recorded as "FCDM-S"
    assert m.throughput("fcdm-xl").on == "synthetic-gpu tf32 bs64"
    assert m.evaluation("fcdm-xl", 256, 400_000, guided=False).fid == 10.9
    assert m.evaluation("fcdm-xl", 256, 1_000_000, guided=False) is None
    assert m.evaluation("fcdm-xl", 256, None, guided=True) is None


def test_throughput_variant_rows_and_train_records_are_not_it_per_s(tmp_path):
    from fcdmbench.reporting.records import write_record

    env = {"device_slug": "synthetic-gpu", "device_name": "Synthetic Test GPU"}
    row = {"model": "fcdm-s", "img_per_s_per_nfe": {"median": 100.0, "iqr": 1.0}}
    write_record(
        tmp_path / "infer.json",
        "fcdmbench.throughput/1",
        {
            "env": env,
            "config": {"precision": "bf16", "mode": "infer", "batch": 64},
            "results": [
                row,
                {**row, "variant": ["ckpt-always"], "img_per_s_per_nfe": {"median": 50.0}},
            ],
        },
    )
    write_record(
        tmp_path / "train.json",
        "fcdmbench.throughput/1",
        {
            "env": env,
            "config": {"precision": "bf16", "mode": "train", "batch": 64},
            "results": [{**row, "img_per_s_per_nfe": {"median": 30.0}}],
        },
    )
    warnings: list[str] = []
    records = load_records([tmp_path], warn=warnings.append)
    assert [(p.model, p.img_per_s) for p in records.throughput] == [("fcdm-s", 100.0)]
    assert any("not inference throughput" in w for w in warnings)
