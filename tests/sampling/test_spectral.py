"""`fcdmbench analyze spectral` (Figure 7) on tiny random models, and the energy formula by hand."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.sampling.spectral import spectral_energy


def test_spectral_energy_by_hand():
    eps = torch.zeros(1, 1, 2, 2)
    eps[0, 0, 0, 0] = 1.0  # an impulse: |FFT| = 1 at all 4 frequencies
    assert spectral_energy(eps).item() == pytest.approx(4 * math.log(2))
    flat = torch.full((1, 2, 2, 2), 0.5)  # constant: DC = 0.5 * 4 = 2, others 0, per channel
    assert spectral_energy(flat).item() == pytest.approx(2 * math.log(3))


def test_analyze_spectral_two_models_writes_plot_csv_and_record(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    images = tmp_path / "val.npz"
    rng = np.random.default_rng(0)
    np.savez(images, rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8), np.array([1, 2, 3]))
    try:
        result = CliRunner().invoke(
            app,
            [
                "analyze",
                "spectral",
                "fcdm-s",
                "fcdm-b",
                "--smoke",
                "--images",
                str(images),
                "--num",
                "3",
                "--every",
                "250",
                "--batch-size",
                "2",
                "--set",
                "width=16",
                "--set",
                "depths=1,1,1,1,1",
                "--out",
                str(tmp_path / "fig7"),
                "--json",
            ],
        )
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    for ext in ("png", "svg", "csv", "json"):
        assert (tmp_path / f"fig7.{ext}").stat().st_size > 0
    record = json.loads((tmp_path / "fig7.json").read_text())
    assert record["schema"] == "fcdmbench.spectral/2" and record["smoke"]
    assert record["timesteps"] == [0, 250, 500, 750] and record["source"]["labels"] == "arr_1"
    rows = list(csv.reader(open(tmp_path / "fig7.csv")))
    assert rows[0] == ["timestep", "fcdm-s_mean", "fcdm-s_std", "fcdm-b_mean", "fcdm-b_std"]
    assert len(rows) == 5 and all(float(v) > 0 for v in rows[1][1:2])
    assert (tmp_path / "fig7.png").read_bytes()[:4] == b"\x89PNG"
    # The figure itself says it comes from random weights (PNG and SVG are drawn alike).
    assert "RANDOM WEIGHTS" in (tmp_path / "fig7.svg").read_text()


def test_analyze_spectral_needs_data_and_checkpoints(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", "spectral", "fcdm-s", "--smoke"])
    assert result.exit_code == 2 and "--images" in result.output
    result = runner.invoke(
        app, ["analyze", "spectral", "fcdm-s", "fcdm-b", "--ckpt", "a.pt", "--synthetic"]
    )
    assert result.exit_code == 2 and "2 model(s) but 1 --ckpt" in result.output
