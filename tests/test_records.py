"""fcdmbench.records: round trips, validation naming file and field, old versions, purity."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fcdmbench.errors import InputError
from fcdmbench.records._base import parse
from fcdmbench.records.io import RECORD_TYPES, read_record, record_from_json, write_record
from fcdmbench.records.memory import MemoryConfig
from fcdmbench.records.sampling import SpectralCurve
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


_T, _E, _S = (
    "throughput/cpu-fcdm-s-bs2.json",
    "records/eval-smoke.json",
    "records/sample-smoke.npz.json",
)
_STATUSES = (
    "'pass', 'grey zone: re-run', 'regression', 'insufficient data', 'no baseline', 'incomparable'"
)
_MODEL_STATUSES = "'ok', 'warn', 'regression', 'gain', 'failed', 'new', 'missing', 'incomparable'"
#: (fixture, dotted path to change, new value or _DEL, the message users get). Written down from
#: the hand-written validator these messages come from (before records were validated by msgspec).
_DEL = object()
BAD_FIELDS = [
    (_T, "results.0.batch", "4", "results[0].batch: expected an integer, got '4'"),
    (_T, "results.0.batch", True, "results[0].batch: expected an integer, got True"),
    (_T, "results.0.batch", 4.0, "results[0].batch: expected an integer, got 4.0"),
    (_T, "results.0.batch", None, "results[0].batch: expected an integer, got None"),
    (_T, "results.0.batch", _DEL, "results[0].batch: missing"),
    (_T, "env", _DEL, "env: missing"),
    (_T, "results.0.block_s.2", "fast", "results[0].block_s[2]: expected a number, got 'fast'"),
    (_T, "results.0.block_s.2", True, "results[0].block_s[2]: expected a number, got True"),
    (_T, "results.0.block_s", "fast", "results[0].block_s: expected a list, got 'fast'"),
    (_T, "results", {"a": 1}, "results: expected a list, got {'a': 1}"),
    (_T, "results.0.key", 5, "results[0].key: expected a string, got 5"),
    (_T, "config.cfg", "true", "config.cfg: expected true/false, got 'true'"),
    (_T, "config.cfg", 1, "config.cfg: expected true/false, got 1"),
    (_T, "config.ref", 5, "config.ref: expected a string, got 5"),  # str | None
    (_T, "config", [1], "config: expected an object, got [1]"),
    (_T, "config", None, "config: expected an object, got None"),
    (_T, "canary.spec", [1], "canary.spec: expected an object, got [1]"),
    (
        _T,
        "results.0.img_per_s.median",
        "x",
        "results[0].img_per_s.median: expected a number, got 'x'",
    ),
    (
        _T,
        "results.0.ratio_to_canary_paired",
        5,
        "results[0].ratio_to_canary_paired: expected an object, got 5",
    ),
    (
        _T,
        "results.0.ratio_to_canary_paired",
        {"median": 1, "q1": 1, "q3": 1},
        "results[0].ratio_to_canary_paired.iqr: missing",
    ),
    (_T, "check", {"status": "bogus"}, f"check.status: expected one of {_STATUSES}, got 'bogus'"),
    (_T, "check", {"status": 3}, f"check.status: expected one of {_STATUSES}, got 3"),
    (
        _T,
        "check",
        {"status": "pass", "models": [{"key": "a", "status": "nope"}]},
        f"check.models[0].status: expected one of {_MODEL_STATUSES}, got 'nope'",
    ),
    (_E, "samples.resolution", [256], "samples.resolution: expected 2 items, got 1"),
    (_E, "samples.resolution", [256, "x"], "samples.resolution[1]: expected an integer, got 'x'"),
    (_E, "samples.resolution", 256, "samples.resolution: expected a list, got 256"),
    (_E, "timings_s", 5, "timings_s: expected an object, got 5"),
    (_S, "arrays.arr_1", 1, "arrays.arr_1: expected a string, got 1"),
    (_S, "arrays", [], "arrays: expected an object, got []"),
    (_S, "model.overrides", "x", "model.overrides: expected an object, got 'x'"),
    (_S, "seed", "x" * 100, "seed: expected an integer, got '" + "x" * 56 + "..."),
]


def _set(obj: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    key = int(last) if isinstance(obj, list) else last
    if value is _DEL:
        del obj[key]
    else:
        obj[key] = value


@pytest.mark.parametrize(("fixture", "dotted", "value", "message"), BAD_FIELDS)
def test_each_bad_field_gets_the_message_users_know(fixture, dotted, value, message):
    obj = json.loads((FIXTURES / fixture).read_text())
    _set(obj, dotted, value)
    with pytest.raises(InputError) as info:
        record_from_json(obj, "r.json")
    assert str(info.value) == f"r.json: {message}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Holder:  # field types no fixture record holds at the top: dicts of objects and of dicts
    curves: dict[str, SpectralCurve]
    skipped: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


@pytest.mark.parametrize(
    ("cls", "obj", "message"),
    [
        (
            _Holder,
            {"curves": {"a": {"mean": [1], "std": [1]}, "b": {"mean": [1], "std": ["x"]}}},
            "curves.b.std[0]: expected a number, got 'x'",
        ),
        (_Holder, {"curves": {"a": 5}}, "curves.a: expected an object, got 5"),
        (_Holder, {"curves": {"a": {"mean": []}}}, "curves.a.std: missing"),
        (
            _Holder,
            {"curves": {}, "skipped": {"op": {"n": 1, "m": "1"}}},
            "skipped.op.m: expected an integer, got '1'",
        ),
        (_Holder, {"curves": {}, "skipped": {"op": 1}}, "skipped.op: expected an object, got 1"),
        (
            MemoryConfig,
            {"mode": "fly", "batch": 1, "gpus": 1, "resolution": 256},
            "config.mode: expected one of 'infer', 'train', got 'fly'",
        ),
        (
            MemoryConfig,
            {"mode": "train", "batch": 1, "gpus": 1, "resolution": 256, "attention": "flash"},
            "config: attention must be fused or unfused, got 'flash'",
        ),  # its __post_init__
        (
            MemoryConfig,
            {"mode": "train", "batch": "1", "gpus": 1, "resolution": 256},
            "config.batch: expected an integer, got '1'",
        ),
    ],
)
def test_nested_fields_are_named_by_their_path(cls, obj, message):
    with pytest.raises(InputError) as info:
        parse(cls, obj, "h.json", "config" if cls is MemoryConfig else "")
    assert str(info.value) == f"h.json: {message}"


def test_unknown_keys_are_ignored_and_integers_read_as_floats():
    obj = json.loads(THROUGHPUT.read_text())
    obj["results"][0]["block_s"][2] = 1
    obj["results"][0]["written_by_a_later_release"] = {"x": 1}
    record = record_from_json(obj, "r.json")
    assert record.results[0].block_s[2] == 1.0 and type(record.results[0].block_s[2]) is float
    assert parse(_Holder, {"curves": {}, "later": 1}) == _Holder(curves={})


def test_every_fixture_record_reads_and_writes_back_byte_for_byte(tmp_path):
    """Written back, a record is the file it was read from; the eval fixture predates fields
    added since with defaults, so it is checked on its second trip."""
    for path in (THROUGHPUT, FIXTURES / _S, FIXTURES / _E):
        first = write_record(tmp_path / "first.json", read_record(path)).read_bytes()
        second = write_record(tmp_path / "second.json", read_record(tmp_path / "first.json"))
        assert second.read_bytes() == first, path.name
        assert path.name == "eval-smoke.json" or first == path.read_bytes(), path.name


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
    """Nor msgspec: it loads when a record is read, so commands that only write one skip it."""
    code = (
        "import sys, fcdmbench.records, fcdmbench.records.roofline, fcdmbench.records.memory, "
        "fcdmbench.env; "
        "bad = [m for m in sys.modules if m in ('torch', 'msgspec') or m.startswith(("
        "'fcdmbench.cli', 'fcdmbench.reporting', 'fcdmbench.flops', 'fcdmbench.throughput', "
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
