"""FD-DINOv2 columns appear in the report's tables only where eval records carry the metric,
with the measured value and never a published one (the FCDM paper prints none)."""

from __future__ import annotations

from report_records import synthetic_eval

from fcdmbench.records.evaluation import EvalRecord, FDDinoV2Result
from fcdmbench.records.io import read_record, write_record
from fcdmbench.reporting.collect import Measurements, load_records
from fcdmbench.reporting.tables import build_table2, build_table7

FD = FDDinoV2Result(
    value=123.45,
    weights_path="dinov2_vitl14_pretrain.pth",
    weights_sha256="3" * 64,
    weights_status="unverified",
    extractor_id="dinov2-vitl14:3333:torch:v1",
    resize="torch",
    num_samples=50_000,
    num_ref=10_000,
    ref_source="images of ref.npz",
    ref_sha256="1" * 64,
)


def _measurements(tmp_path, record):
    write_record(tmp_path / "e.json", record)
    return Measurements(load_records([tmp_path / "e.json"]), count=None)


def _column(table, key):
    keys = [c.key for c in table.columns]
    return None if key not in keys else keys.index(key)


def test_no_column_without_records_that_have_it(tmp_path):
    m = _measurements(tmp_path, synthetic_eval())
    assert _column(build_table2(m), "fd_dinov2") is None
    assert _column(build_table7(m), "fd_dinov2") is None


def test_column_with_measured_value_and_no_published_one(tmp_path):
    record = synthetic_eval(
        fd_dinov2=FD, metrics_requested=("fid", "sfid", "is", "pr", "fd_dinov2")
    )
    assert read_record(_write(tmp_path, record), kind=EvalRecord).fd_dinov2 == FD  # round trip
    m = _measurements(tmp_path, record)
    for table in (build_table2(m), build_table7(m)):
        index = _column(table, "fd_dinov2")
        assert index is not None and any("FD-DINOv2" in n for n in table.notes)
        cells = [row[index] for row in table.rows]
        assert all(c.published is None for c in cells)
        measured = [c.measured.value for c in cells if c.measured is not None]
        assert measured and set(measured) == {123.45}


def _write(tmp_path, record):
    path = tmp_path / "round.json"
    write_record(path, record)
    return path


def test_markdown_and_csv_show_the_column(tmp_path):
    from fcdmbench.reporting.render import table_to_csv, table_to_markdown

    record = synthetic_eval(fd_dinov2=FD)
    table = build_table2(_measurements(tmp_path, record))
    assert "FD-DINOv2" in table_to_markdown(table) and "123.45" in table_to_markdown(table)
    assert "fd_dinov2_measured" in table_to_csv(table)
