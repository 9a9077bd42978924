"""fcdmbench.records: round trips, validation naming file and field, old versions, purity."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fcdmbench.errors import InputError
from fcdmbench.records.io import RECORD_TYPES, read_record, record_from_json, write_record
from fcdmbench.records.throughput import BaselineRecord, ThroughputRecord

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "records_v1"
THROUGHPUT = FIXTURES / "throughput" / "cpu-fcdm-s-bs2.json"


def test_a_record_round_trips_through_its_file(tmp_path):
    """The file is the record (each command's tests check the same for its own kind)."""
    record = read_record(THROUGHPUT)
    again = read_record(write_record(tmp_path / "r.json", record))
    assert again == record and type(again) is type(record)
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == type(record).SCHEMA


def test_written_records_have_umask_permissions(tmp_path):
    import os

    record = read_record(THROUGHPUT)
    path = write_record(tmp_path / "r.json", record)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_validation_names_the_file_and_the_field(tmp_path):
    obj = read_record(THROUGHPUT).to_json()
    obj["results"][1]["block_s"][2] = "fast"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match=r"bad.json: results\[1\].block_s\[2\]: expected a number"):
        read_record(path)
    del obj["env"]
    with pytest.raises(InputError, match="x.json: env: missing") as info:
        record_from_json(obj, "x.json")
    assert info.value.exit_code == 3 and "re-create" in info.value.hint


def test_wrong_kind_newer_version_and_old_unreadable_records_are_refused(tmp_path):
    flops = json.loads((V1 / "flops-fcdm-s-bs4.json").read_text())
    with pytest.raises(InputError, match="is a flops record .* not a throughput record"):
        record_from_json(flops, "f.json", kind="throughput")
    with pytest.raises(InputError, match="newer than this fcdmbench reads"):
        record_from_json({**flops, "schema": "fcdmbench.flops/9"}, "f.json")
    with pytest.raises(InputError, match="flops/1, which this fcdmbench no longer reads") as info:
        record_from_json(flops, "f.json")
    assert "re-run the command that wrote it" in info.value.hint
    with pytest.raises(InputError, match="eval/2, which this fcdmbench no longer reads"):
        record_from_json({"schema": "fcdmbench.eval/2", "mode": {"adm_exact": "true"}}, "e.json")
    for kind in ("roofline", "memory"):  # no kind migrates an older schema
        with pytest.raises(InputError, match=f"{kind}/1, which this fcdmbench no longer reads"):
            record_from_json({"schema": f"fcdmbench.{kind}/1", "results": []}, "r.json")
    with pytest.raises(InputError, match="does not know"):
        record_from_json({"schema": "fcdmbench.nonsense/2"}, "n.json")
    with pytest.raises(InputError, match="not an fcdmbench record"):
        record_from_json({"schema": "other/1"}, "n.json")


def test_baseline_record_nests_the_throughput_record(tmp_path):
    run = read_record(THROUGHPUT, kind=ThroughputRecord)
    baseline = BaselineRecord(record=run, source="run.json", updated="2026-12-01T00:00:00+00:00")
    path = write_record(tmp_path / "b.json", baseline)
    obj = json.loads(path.read_text())
    assert obj["schema"] == "fcdmbench.baseline/2" and obj["record"]["schema"] == run.SCHEMA
    assert read_record(path, kind=BaselineRecord) == baseline
    with pytest.raises(InputError, match="is a baseline record"):
        read_record(path, kind=ThroughputRecord)


def test_points_for_other_readers():
    record = read_record(THROUGHPUT, kind=ThroughputRecord)
    plain = record.points()
    assert [p.key for p in plain] == ["fcdm-s"]
    assert [p.key for p in record.points(variants=True)] == ["fcdm-s", "fcdm-s[ckpt-always]"]
    assert record.median_img_per_s("fcdm-s") == record.results[0].img_per_s.median
    assert record.median_img_per_s("dit-xl-2") is None
    failed = dataclasses.replace(record.results[0], status="oom")
    assert dataclasses.replace(record, results=(failed,)).points() == ()


def test_every_kind_is_registered():
    assert set(RECORD_TYPES) == {
        "flops",
        "throughput",
        "baseline",
        "eval",
        "cross-check",
        "sample",
        "spectral",
        "roofline",
        "roofline-train",
        "memory",
        "audit",
        "report",
    }
    versions = {kind: cls.version() for kind, cls in RECORD_TYPES.items()}
    assert versions == {**dict.fromkeys(RECORD_TYPES, 2), "eval": 3, "cross-check": 1}
    assert all(cls.SCHEMA == f"fcdmbench.{k}/{versions[k]}" for k, cls in RECORD_TYPES.items())


def test_records_and_env_import_no_torch_cli_or_reporting():
    code = (
        "import sys, fcdmbench.records, fcdmbench.records.roofline, fcdmbench.records.memory, "
        "fcdmbench.env; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('fcdmbench.cli', "
        "'fcdmbench.reporting', 'fcdmbench.flops', 'fcdmbench.throughput', "
        "'fcdmbench.perfmodel', 'fcdmbench.evaluation'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_layers_never_import_the_cli_or_report_records_sideways():
    root = Path(__file__).parents[1] / "fcdmbench"
    offenders = []
    for path in root.rglob("*.py"):
        if "cli" in path.relative_to(root).parts or path.name == "__main__.py":
            continue  # the CLI itself and `python -m fcdmbench`
        text = path.read_text()
        if "fcdmbench.cli" in text or "fcdmbench.reporting.records" in text:
            offenders.append(str(path.relative_to(root)))
    layers = ("evaluation", "flops", "throughput", "perfmodel", "sampling")
    for layer in layers:
        for path in (root / layer).rglob("*.py"):
            if "fcdmbench.reporting" in path.read_text():
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_summary_of_block_samples():
    """Inclusive quartiles, worked by hand: for 1..5 the quartiles are the 2nd and 4th values."""
    from fcdmbench.records.throughput import Summary

    five = Summary.of([5, 1, 4, 2, 3])
    assert (five.q1, five.median, five.q3, five.iqr) == (2.0, 3.0, 4.0, 2.0)
    assert five.samples == (5.0, 1.0, 4.0, 2.0, 3.0)  # raw, in block order
    assert five.relative_dispersion == 2.0 / 3.0
    one = Summary.of([7.5])
    assert (one.median, one.iqr, one.relative_dispersion) == (7.5, 0.0, 0.0)
    none = Summary.of([])
    assert none.median is None and none.relative_dispersion == float("inf")
