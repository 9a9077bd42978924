"""`fcdmbench.records.to_frame`: real records of several commands in one tidy DataFrame, and the
report's records.csv built from it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.errors import InputError
from fcdmbench.records.frame import COLUMNS, to_frame
from fcdmbench.records.io import read_record

FIXTURES = Path(__file__).parent / "fixtures"
THROUGHPUT = FIXTURES / "throughput" / "cpu-fcdm-s-bs2.json"  # a real CPU run
RECORDED = FIXTURES / "records"  # real eval and sample records (PROVENANCE.md there)
runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A folder as a user would have it: flops, roofline and memory records written now, recorded
    runs of other commands, and a JSON file that is not a record."""
    root = tmp_path_factory.mktemp("runs")
    for args in (
        ["flops", "fcdm-s", "dit-s-2", "--json", str(root / "flops.json")],
        ["roofline", "-m", "fcdm-s", "--batch", "4", "--json", str(root / "roofline.json")],
        ["memory", "-m", "fcdm-s", "--batch", "4", "--json", str(root / "memory.json")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    shutil.copy(THROUGHPUT, root / "throughput.json")
    shutil.copytree(RECORDED, root / "older", ignore=shutil.ignore_patterns("*.md"))
    (root / "older" / "shards.json").write_text(json.dumps({"done": [0, 1]}))
    return root


def _value(frame, **where) -> float:
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, (where, rows)
    return rows["value"].iloc[0]


def test_every_number_of_every_kind_with_its_labels(runs):
    frame = to_frame([runs])
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame.kind) == {"flops", "throughput", "eval", "roofline", "memory"}
    flops = read_record(runs / "flops.json")
    for r in flops.results:
        mine = {"source": str(runs / "flops.json"), "model": r.model}
        assert _value(frame, quantity="gmacs", **mine) == r.gmacs
        assert _value(frame, quantity="params", **mine) == r.params
    throughput = read_record(runs / "throughput.json")
    for point in throughput.points(variants=True):
        shown = frame[(frame.kind == "throughput") & (frame.quantity == "img_per_s")]
        row = shown[shown.variant == "+".join(point.variant)].iloc[0]
        assert (row.value, row.device, row.precision, row.batch) == (
            point.img_per_s,
            point.device_slug,
            point.precision,
            point.batch,
        )
    evaluation = read_record(runs / "older" / "eval-smoke.json")
    assert _value(frame, kind="eval", quantity="fid") == evaluation.fid
    is_model = frame.kind.isin(["roofline", "memory"])  # predictions, not measurements
    assert (frame.is_prediction == is_model).all()


def test_records_and_paths_mix(runs):
    flops = read_record(runs / "flops.json")
    sample = read_record(runs / "older" / "sample-smoke.npz.json")  # settings only: no rows
    frame = to_frame([flops, sample, runs / "throughput.json"])
    assert set(frame.kind) == {"flops", "throughput"}
    assert set(frame[frame.kind == "flops"].source) == {""}


def test_a_named_file_must_be_a_record_and_a_path_must_exist(runs):
    with pytest.raises(InputError, match="not an fcdmbench record"):
        to_frame([runs / "older" / "shards.json"])  # passed over inside a folder, named: error
    with pytest.raises(InputError, match="does not exist"):
        to_frame([runs / "missing.json"])


def test_report_writes_the_records_it_read_as_records_csv(runs, tmp_path):
    out = tmp_path / "report"
    args = ["report", "--no-meta", "--format", "csv", "--out", str(out), "--records", str(runs)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert "records.csv" in manifest["files"]
    text = (out / "records.csv").read_text()
    assert text == to_frame(manifest["inputs"]).to_csv(index=False, lineterminator="\n")
    written = pd.read_csv(io.StringIO(text))
    assert set(written.kind) == {"flops", "throughput", "eval"}  # the report passes over models
