"""Reading records for the report: typed, strict about what the user names, honest comparisons."""

from __future__ import annotations

import json

import pytest
from report_records import RECORDED, synthetic_eval, synthetic_throughput

from fcdmbench.errors import InputError
from fcdmbench.records.io import write_record
from fcdmbench.reporting.collect import Measurements, load_records


def test_record_written_by_an_earlier_command_still_loads():
    records = load_records([RECORDED])
    (point,) = records.throughput  # the [ckpt-always] variant is not the plain model
    assert (point.model, point.batch, point.precision) == ("fcdm-s", 2, "paper-default")
    assert point.img_per_s == json.loads(RECORDED.read_text())["results"][0]["img_per_s"]["median"]


def test_named_paths_that_are_not_records_are_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist") as missing:
        load_records([tmp_path / "nope"])
    assert missing.value.exit_code == 3
    npz = tmp_path / "samples.npz"
    npz.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(InputError, match="not an fcdmbench record: a binary file"):
        load_records([npz])
    text = tmp_path / "notes.json"
    text.write_text('{"hello": 1}')
    with pytest.raises(InputError, match="not an fcdmbench record"):
        load_records([text])


def test_corrupted_real_record_names_file_and_field(tmp_path):
    """Real corruptions of a real record: truncation, a wrong type, a missing section."""
    body = json.loads(RECORDED.read_text())
    folder = tmp_path / "runs"
    folder.mkdir()
    truncated = folder / "truncated.json"
    truncated.write_text(RECORDED.read_text()[:2000])
    with pytest.raises(InputError, match="truncated.json is not an fcdmbench record"):
        load_records([truncated])
    body["results"][0]["batch"] = "2"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(body))
    with pytest.raises(InputError, match=r"wrong.json: results\[0\].batch: expected an integer"):
        load_records([wrong])
    del body["canary"]
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps(body))
    with pytest.raises(InputError, match="gone.json: canary: missing") as info:
        load_records([gone])
    assert "re-create it" in info.value.hint


def test_folders_skip_what_is_not_a_record_and_fail_on_broken_records(tmp_path):
    write_record(
        tmp_path / "a" / "tp.json",
        synthetic_throughput({"fcdm-s": 10.0}, "bf16"),
        make_parents=True,
    )
    (tmp_path / "a" / "run.json").write_text('{"model": "fcdm-s"}')  # a shard fingerprint
    warnings: list[str] = []
    records = load_records([tmp_path / "a"], warn=warnings.append)
    assert [p.model for p in records.throughput] == ["fcdm-s"]
    assert len(warnings) == 1 and "run.json: not an fcdmbench record; skipped" in warnings[0]
    (tmp_path / "a" / "broken.json").write_text('{"schema": "fcdmbench.eval/3", "fid": 3.0}')
    with pytest.raises(InputError, match="broken.json: run: missing"):
        load_records([tmp_path / "a"])


def test_eval_without_model_is_a_warning_not_a_row(tmp_path):
    write_record(tmp_path / "e.json", synthetic_eval(model=None, model_source=None))
    warnings: list[str] = []
    records = load_records([tmp_path / "e.json"], warn=warnings.append)
    assert records.evals == [] and "names no model" in warnings[0]


def test_flops_record_beats_meta_count_and_is_per_image(tmp_path):
    """`fcdmbench flops --batch 4` stores GMACs per image; the report must not divide again."""
    from fcdmbench.flops.run import FlopsConfig, run_flops

    record = run_flops(FlopsConfig(models=("fcdm-s",), batch=4, ref=None))
    write_record(tmp_path / "f.json", record)
    m = Measurements(
        load_records([tmp_path]), count=lambda *a, **k: (_ for _ in ()).throw(AssertionError)
    )
    cell = m.gmacs("fcdm-s", 256)
    assert cell.on == "record" and cell.comparable
    assert cell.value == record.results[0].gmacs and round(cell.value, 2) == 3.08


def test_throughput_comparability(tmp_path):
    """Only a GPU figure at the paper's batch gets a delta; a CPU one is shown beside it."""
    write_record(
        tmp_path / "cpu.json",
        synthetic_throughput(
            {"fcdm-s": 13.3}, "paper-default", batch=4, device_type="cpu", slug="cpu-synthetic"
        ),
    )
    m = Measurements(load_records([tmp_path]))
    cpu = m.throughput("fcdm-s")
    assert (cpu.value, cpu.comparable, cpu.on) == (13.3, False, "cpu-synthetic paper-default bs4")
    assert "CPU" in cpu.why
    small_record = synthetic_throughput({"fcdm-s": 900.0}, "bf16", batch=8)
    write_record(tmp_path / "small" / "small.json", small_record, make_parents=True)
    small = Measurements(load_records([tmp_path / "small"])).throughput("fcdm-s")
    assert not small.comparable and "batch 8" in small.why
    write_record(tmp_path / "gpu.json", synthetic_throughput({"fcdm-s": 2500.0}, "bf16"))
    gpu = Measurements(load_records([tmp_path])).throughput("fcdm-s")  # comparable first
    assert (gpu.value, gpu.comparable, gpu.on) == (2500.0, True, "synthetic-gpu bf16 bs64")


def test_throughput_cell_prefers_the_batch_nearest_the_papers(tmp_path):
    """Two CPU runs of one model and precision: the cell shows the batch nearer 64, not the
    smallest (a batch-2 quick look must not stand for a batch-8 run)."""
    for batch, rate in ((2, 25.9), (8, 27.5)):
        record = synthetic_throughput(
            {"fcdm-s": rate}, "paper-default", batch=batch, device_type="cpu", slug="cpu-x"
        )
        write_record(tmp_path / f"bs{batch}.json", record)
    cell = Measurements(load_records([tmp_path])).throughput("fcdm-s")
    assert (cell.value, cell.on) == (27.5, "cpu-x paper-default bs8")


def test_throughput_prefers_paper_default_order_and_eval_rows(measurements):
    assert measurements.throughput("fcdm-s").value == 2500.0
    assert measurements.throughput("fcdm-xl").on == "synthetic-gpu tf32 bs64"
    assert measurements.evaluation("fcdm-xl", 256, 400_000, guided=False).fid == 10.9
    assert measurements.evaluation("fcdm-xl", 256, 1_000_000, guided=False) is None
    assert measurements.evaluation("fcdm-xl", 256, None, guided=True) is None


def test_variant_rows_and_train_records_are_not_it_per_s(tmp_path):
    import dataclasses

    record = synthetic_throughput({"fcdm-s": 100.0}, "bf16")
    variant = dataclasses.replace(
        record.results[0], key="fcdm-s[ckpt-always]", variant=("ckpt-always",)
    )
    write_record(
        tmp_path / "infer.json", dataclasses.replace(record, results=(*record.results, variant))
    )
    train = dataclasses.replace(record, config=dataclasses.replace(record.config, mode="train"))
    write_record(tmp_path / "train.json", train)
    warnings: list[str] = []
    records = load_records([tmp_path], warn=warnings.append)
    assert [(p.model, p.img_per_s) for p in records.throughput] == [("fcdm-s", 100.0)]
    assert any("not inference throughput" in w for w in warnings)


def test_report_manifest_in_a_folder_is_skipped(tmp_path):
    from fcdmbench.reporting.report import ReportConfig, build_report

    build_report(
        ReportConfig(out=tmp_path / "rep", use_meta=False, formats=_md()), warn=lambda m: None
    )
    warnings: list[str] = []
    records = load_records([tmp_path], warn=warnings.append)
    assert records.files == [] and any("report manifest" in w for w in warnings)


def _md():
    from fcdmbench.reporting.report import ReportFormat

    return (ReportFormat.MD,)


def test_folder_name_by_environment(synthetic_records):
    from fcdmbench.reporting.collect import load_records
    from fcdmbench.reporting.report import report_dir_name

    empty = load_records([])
    assert (
        report_dir_name(empty, "cpu-intel-xeon", "pt2.13", True, "2026-11-22")
        == "2026-11-22-cpu-xeon-published+meta-pt2.13"
    )
    records = load_records([synthetic_records])
    assert (
        report_dir_name(records, "cpu-intel-xeon", "pt2.13", True, "2026-11-22")
        == "2026-11-22-synthetic-gpu-bf16+tf32-pt2.13"
    )
