"""The audit and the invariant it guards: every throughput figure the seed paper prints (Tables 2,
3, 4 and 11) is at or below its roofline bound in the paper's stated setting on the device the
audit finds most plausible for its table. Negative control: the pricing this replaced (DiG's
GLA and the fused modules around it operator by operator, attention op by op) puts DiG-B/2, L/2
and XL/2 above their bounds there, so the invariant can fail."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fcdmbench.catalog.fcdm import FCDM_B, FCDM_L, FCDM_S
from fcdmbench.cli.main import app
from fcdmbench.paper_tables import ROWS
from fcdmbench.perfmodel import audit_readings
from fcdmbench.perfmodel.audit import TABLES, AuditConfig, published_figures, run_audit
from fcdmbench.perfmodel.audit_readings import Reading
from fcdmbench.precision import Precision
from fcdmbench.records.audit import AuditRecord
from fcdmbench.records.io import read_record, write_record
from fcdmbench.records.roofline import Kernels


@pytest.fixture(scope="module")
def record() -> AuditRecord:
    return run_audit(AuditConfig())


def _violations(record: AuditRecord, devices: dict[str, str] | None = None) -> list[tuple]:
    """Figures above their bound in the paper's setting on each table's plausible device (or
    the device `devices` names for the table)."""
    out = []
    for plausible in record.plausible:
        device = (devices or {}).get(plausible.table, plausible.device)
        for f in record.figures:
            if f.table == plausible.table and f.modelled:
                fraction = f.bound(device, "paper").fraction
                if fraction > 1.0:
                    out.append((f.table, f.label, round(fraction, 3)))
    return out


def test_every_printed_figure_is_audited(record):
    printed = {
        (r.table, r.model, r.resolution, r.throughput_it_s)
        for r in ROWS
        if r.table in TABLES and r.throughput_it_s is not None
    }
    assert len(record.figures) == len(printed)
    modelled = [f for f in record.figures if f.modelled]
    assert {f.label for f in record.figures if not f.modelled} == {"U-ViT-H/2", "SiT-XL/2"}
    for f in modelled:  # a bound on every device under every setting
        assert len(f.bounds) == len(record.devices) * len(record.settings)
        assert f.implied_tflops == pytest.approx(f.published_it_s * 2 * f.gmacs / 1e3)


def test_invariant_paper_setting_on_the_most_plausible_device(record):
    assert {p.table for p in record.plausible} == set(TABLES)
    assert all(p.all_feasible for p in record.plausible)
    assert _violations(record) == []
    assert not [f.label for f in record.figures if f.infeasible]


def test_negative_control_old_pricing_makes_dig_infeasible(record, monkeypatch):
    plausible = {p.table: p.device for p in record.plausible}
    old = Reading(Precision.PAPER_DEFAULT, Kernels("sdpa-math", "torch"), "negative control")
    monkeypatch.setattr(audit_readings, "_PAPER", old)
    control = run_audit(AuditConfig(tables=("table2",), settings=("paper",)))
    violations = {label for _, label, _ in _violations(control, plausible)}
    assert violations >= {"DiG-B/2", "DiG-L/2", "DiG-XL/2"}  # 1.06-1.13x their bounds


def test_the_plausible_table2_reading_is_evidenced(record):
    table2 = record.plausible_for("table2")
    fractions = {
        f.label: f.bound(table2.device, table2.setting).fraction
        for f in record.figures
        if f.table == "table2"
    }
    assert table2.max_fraction == pytest.approx(max(fractions.values()))
    for label in ("DiT-S/2", "FCDM-XL", "DiC-H"):
        assert label.split("-")[0] in table2.evidence


def test_ratios_and_inconsistencies(record):
    headline = [r for r in record.ratios if r.claim.startswith("FCDM-XL / DiT-XL/2")]
    assert headline and headline[0].published == pytest.approx(272.7 / 76.9)
    assert len(headline) == len(record.devices) * len(record.settings)
    drops = {r.claim.split(" 256")[0] for r in record.ratios if "512 px" in r.claim}
    assert {"FCDM-XL", "DiT-XL/2"} <= drops
    (dico,) = [i for i in record.inconsistencies if i.model == "dico-xl"]
    assert "208.5" in dico.text and "174.2" in dico.text


def test_table11_overrides_are_the_printed_configurations():
    bases = {"fcdm-s": FCDM_S, "fcdm-b": FCDM_B, "fcdm-l": FCDM_L}
    variants = [s for s in published_figures(("table11",)) if s.overrides]
    assert len(variants) == 6
    printed = {r.model: r.params_m for r in ROWS if r.table == "table11"}
    for spec in variants:
        import dataclasses

        config = dataclasses.replace(bases[spec.model], **dict(spec.overrides))
        assert config.num_params() / 1e6 == pytest.approx(printed[spec.label], abs=0.051)


def test_infeasible_figure_spells_out_its_best_bound():
    from fcdmbench.perfmodel.audit import _devices, _figure, _Spec

    spec = _Spec("table2", "DiT-S/2", "dit-s-2", "dit", 256, 1e6, "absurd")
    figure = _figure(spec, _devices(("a100-80gb-sxm", "h100-sxm")), ("paper", "bf16"), 64)
    assert figure.infeasible and not figure.feasible_on
    assert "fastest bound" in figure.arithmetic and "ms" in figure.arithmetic


def test_record_round_trip(record, tmp_path):
    path = write_record(tmp_path / "audit.json", record)
    again = read_record(path, kind="audit")
    assert again.figures == record.figures and again.plausible == record.plausible
    assert json.loads(path.read_text())["schema"] == "fcdmbench.audit/2"


runner = CliRunner()


def test_cli_json_and_table(tmp_path):
    args = ["audit", "--tables", "11", "--devices", "a100-80gb-sxm", "h100-sxm"]
    result = runner.invoke(app, [*args, "--settings", "paper", "tf32", "--json", "-"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["tables"] == ["table11"] and len(obj["figures"]) == 9
    result = runner.invoke(app, [*args, "--plot", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    assert "most plausible" in result.stdout and "model, not a measurement" in result.stdout
    assert (tmp_path / "a.png").stat().st_size > 10_000


def test_cli_every_bad_option_at_once(tmp_path):
    result = runner.invoke(
        app,
        ["audit", "--tables", "5", "--devices", "cpu", "l4", "--settings", "nope",
         "--plot", str(tmp_path / "a.txt")],
    )  # fmt: skip
    assert result.exit_code == 2
    for part in ("table5", "nope", "'cpu'", "l4 has no memory-bandwidth", ".png, .svg or .pdf"):
        assert part in result.stderr, part
