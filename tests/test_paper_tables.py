"""Spot checks of the transcribed seed-paper tables (values read off arXiv 2603.09408's text)."""

from __future__ import annotations

import collections
import re

import pytest

from fcdmbench.paper_tables import ROWS, rows_for_model
from fcdmbench.published import PublishedResult
from fcdmbench.registry import list_models, normalize_name

#: The registered model names (lowercase, hyphenated): FCDM, DiT, DiC, DiCo and DiG.
REGISTERED = frozenset(list_models())
FAMILIES = frozenset(name.split("-")[0] for name in REGISTERED)


def _row(table: str, model: str, setting_part: str = "", resolution: int = 256) -> PublishedResult:
    hits = [
        r
        for r in ROWS
        if r.table == table
        and r.model == model
        and r.resolution == resolution
        and setting_part in r.setting
    ]
    assert len(hits) == 1, (table, model, setting_part, hits)
    return hits[0]


@pytest.mark.parametrize(
    ("model", "gmacs", "throughput_it_s", "fid"),
    [
        ("fcdm-xl", 64.6, 272.7, 10.72),
        ("dit-xl-2", 118.6, 76.9, 19.47),
        ("dico-xl", 87.3, 208.5, 11.67),
        ("dic-xl", 116.1, 263.1, 13.11),
        ("fcdm-s", 3.1, 2687.2, 48.52),
        ("dig-xl-2", 89.4, 71.7, 18.53),
    ],
)
def test_table2_values(model, gmacs, throughput_it_s, fid):
    row = _row("table2", model, "400K")
    assert (row.gmacs, row.throughput_it_s, row.fid) == (gmacs, throughput_it_s, fid)
    assert row.training_steps == 400_000 and row.source == "fcdm:Table 2"


def test_table2_long_runs_keep_their_steps():
    assert _row("table2", "dit-xl-2", "7M").fid == 9.62
    assert _row("table2", "dit-xl-2", "7M").training_steps == 7_000_000
    assert _row("table2", "dig-xl-2", "1.2M").training_steps == 1_200_000
    assert _row("table2", "fcdm-xl", "1M").inception_score == 135.55


def test_table1_and_table3_and_table4():
    t1 = _row("table1", "fcdm-xl")
    assert (t1.params_m, t1.gmacs, t1.extra_value("flops_ratio_to_dit_pct")) == (698.8, 64.6, 54.5)
    assert _row("table1", "fcdm-s").extra_value("hidden_channels") == 128
    t3 = _row("table3", "dico-xl")
    assert (t3.epochs, t3.throughput_it_s, t3.fid) == (750, 174.2, 2.05)  # 174.2 as printed
    assert _row("table3", "ADM-U").gmacs == 742.0
    assert _row("table3", "fcdm-xl").inception_score == 285.7
    t4 = _row("table4", "fcdm-xl", "1M", resolution=512)
    assert (t4.gmacs, t4.throughput_it_s, t4.fid) == (257.7, 129.6, 7.46)
    assert _row("table4", "dico-xl", "3M", resolution=512).gmacs == 349.8


def test_ablation_tables():
    assert _row("table5", "FCDM-L no GRN").fid == 21.24
    assert len([r for r in ROWS if r.table == "table5" and r.model == "fcdm-l"]) == 4
    t10 = _row("table10", "FCDM-L 2-level U-Net")
    assert (t10.params_m, t10.gmacs, t10.throughput_it_s) == (482.1, 140.0, 153.5)
    assert t10.extra_value("depths") == "[4, 8, 4]"
    t11 = _row("table11", "FCDM-L constant")
    assert (t11.extra_value("hidden_channels"), t11.gmacs, t11.fid) == (600, 62.8, 17.63)
    assert _row("table9", "fcdm-xl", "SD-VAE").fid == 11.57


def test_steps_tables_are_complete():
    for table in ("table7", "table8"):
        rows = [r for r in ROWS if r.table == table]
        assert len(rows) == 32
        for model in ("fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl"):
            steps = sorted(r.training_steps for r in rows if r.model == model)
            assert steps == [k * 1000 for k in range(50, 401, 50)]
    assert _row("table7", "fcdm-xl", "400K").inception_score == 108.04
    assert _row("table8", "fcdm-b", "; 50K").sfid == 18.48
    assert _row("table8", "fcdm-s", "400K").fid == 47.84


def test_every_row_has_source_and_table_key():
    for row in ROWS:
        assert row.source and ":" in row.source, row
        if row.source.startswith("fcdm:"):
            assert row.table == "table" + row.source.split("Table ")[1], row
        else:
            assert row.table == "", row
        assert row.resolution in (256, 512)


def _naming_problems(models: list[str]) -> list[str]:
    """Row `model`s that spell a registered model the paper's way, or look like a registry name
    (lowercase, hyphenated, a family's prefix) without being one."""
    problems = []
    for model in models:
        if model in REGISTERED:
            continue
        if normalize_name(model)[0] in REGISTERED:
            problems.append(f"{model!r} spells a registered model the paper's way")
        elif re.fullmatch(r"[a-z0-9-]+", model) and model.split("-")[0] in FAMILIES:
            problems.append(f"{model!r} looks like a malformed registry name")
    return problems


def test_model_names_are_registry_names_or_display_names():
    """A row about a registered model uses its registry name; every other row a display name."""
    assert {"fcdm", "dit", "dic", "dico", "dig"} <= FAMILIES
    assert _naming_problems(sorted({r.model for r in ROWS})) == []
    assert {"dig-s-2", "dig-xl-2"} <= {r.model for r in ROWS}  # DiG rows are checked too


def test_naming_check_can_fail():
    bad = ["DiG-XL/2", "dig-xl", "FCDM-XL", "dico-xxl"]
    assert len(_naming_problems(bad)) == len(bad)
    assert _naming_problems(["dig-xl-2", "SiT-XL/2", "FCDM-L constant"]) == []


def test_no_duplicate_rows():
    keys = collections.Counter((r.model, r.table, r.resolution, r.setting) for r in ROWS)
    assert [k for k, n in keys.items() if n > 1] == []


def test_rows_for_model_sees_seed_tables_first():
    rows = rows_for_model("fcdm-xl")
    assert rows[0].table == "table1" and rows[0].gmacs == 64.6
    assert rows_for_model("dico-s")[0].gmacs == 4.3  # Table 2 before DiCo's README (4.25)
