"""`fcdmbench eval --backend torch` end to end, against `--backend tensorflow` on the same files.

The graph is the stand-in with the real 2015 topology and random weights
(tests/evaluation/standin_graph.py); both backends run it as `fcdmbench eval` runs
them. The issue's bounds: IS, FID and sFID within 1e-5 relative, precision and recall within 2
samples. Measured (2026-12-07, 30 samples vs 40 reference images of 32 px): IS and precision/recall
identical, FID and sFID 1.3e-6 and 1.2e-6 relative (docs/evaluation.md). The runs are slow (two
2048-d matrix square roots per backend, and TensorFlow's start-up), hence ``--full``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from standin_graph import write_inception_2015_graph
from typer.testing import CliRunner

from fcdmbench.cli.main import app

METRIC_RTOL = 1e-5
PR_SAMPLES = 2

#: Runs the CLI with TensorFlow made unimportable: the torch path must never need it.
NO_TENSORFLOW = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'tensorflow' or name.startswith('tensorflow.'):\n"
    "            raise ImportError('tensorflow is blocked in this test')\n"
    "sys.meta_path.insert(0, Block())\n"
    "from fcdmbench.cli.main import run\n"
    "sys.argv = ['fcdmbench', *sys.argv[1:]]\n"
    "run()\n"
)
#: Runs the CLI as `fcdmbench ARGS` does.
CLI = "import sys\n" + NO_TENSORFLOW[NO_TENSORFLOW.index("from fcdmbench") :]
#: One thread per process for torch and OpenBLAS (two processes share two cores).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _images(seed: int, num: int, side: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num, side, side, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch-backend")
    graph = write_inception_2015_graph(root / "graph.pb", seed=0)
    np.savez(root / "ref.npz", arr_0=_images(0, 40))
    np.savez(root / "samples.npz", arr_0=_images(1, 30))
    return root, graph


def _eval_args(root, graph, backend: str) -> list[str]:
    return [
        "eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "-n", "30",
        "--inception", str(graph), "--backend", backend, "--json", str(root / f"{backend}.json"),
    ]  # fmt: skip


@pytest.mark.slow
def test_torch_backend_gives_tensorflows_metrics_without_tensorflow(files):
    """The two runs are independent processes, run side by side: each spends most of its time in
    ADM's square roots, which gain little from a second thread (one BLAS thread each, so the two
    do not contend for the two cores)."""
    root, graph = files
    env = {**os.environ, "FCDMBENCH_CACHE": str(root / "cache"), **ONE_THREAD}
    runs = {}
    for backend, code in (("torch", NO_TENSORFLOW), ("tensorflow", CLI)):
        with open(root / f"{backend}.log", "w") as log:
            args = [sys.executable, "-c", code, *_eval_args(root, graph, backend)]
            runs[backend] = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    for backend, run in runs.items():
        assert run.wait() == 0, (backend, (root / f"{backend}.log").read_text())
    ours, theirs = (json.loads((root / f"{b}.json").read_text()) for b in ("torch", "tensorflow"))
    assert (ours["inception"]["backend"], theirs["inception"]["backend"]) == ("torch", "tensorflow")
    assert ours["tensorflow"] is None and theirs["tensorflow"] is not None
    assert ours["inception"]["extractor_id"] != theirs["inception"]["extractor_id"]  # own caches
    for name in ("inception_score", "fid", "sfid"):
        assert ours[name] == pytest.approx(theirs[name], rel=METRIC_RTOL, abs=0), name
    for name in ("precision", "recall"):
        count = ours["num_samples"] if name == "precision" else ours["num_ref"]
        assert abs(ours[name] - theirs[name]) * count <= PR_SAMPLES + 1e-9, name


@pytest.mark.slow
def test_cross_check_reports_agreement_and_writes_its_record(files):
    root, graph = files
    out = root / "cc.json"
    result = CliRunner().invoke(
        app,
        ["eval", str(root / "ref.npz"), "--cross-check", "--inception", str(graph)]
        + ["--batch-size", "16", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["schema"] == "fcdmbench.cross-check/1" and record["num_images"] == 40
    assert [o["name"] for o in record["outputs"]] == ["pool", "spatial", "probs"]
    assert all(o["within"] and o["max_rel"] < o["tolerance"] for o in record["outputs"])
    assert all(m["within"] for m in record["metrics"]) and len(record["metrics"]) == 3
    assert "agree within" in result.output


def test_cross_check_fails_with_exit_5_where_the_backends_differ(files, monkeypatch):
    """The check can fail: a tolerance of 0 is beyond every measured difference but an exact
    one, and the pool features of the two backends are not bit-identical."""
    import fcdmbench.evaluation.inception.cross_check as cc

    root, graph = files
    monkeypatch.setattr(cc, "FEATURE_TOLERANCE", 0.0)
    monkeypatch.setattr(cc, "_metric_pairs", lambda ours, theirs: ())  # skip the square roots
    np.savez(root / "few.npz", arr_0=_images(2, 4))
    out = root / "cc-fail.json"
    result = CliRunner().invoke(
        app,
        ["eval", str(root / "few.npz"), "--cross-check", "--inception", str(graph)]
        + ["--json", str(out)],
    )
    assert result.exit_code == 5, result.output
    assert "differ beyond the validated tolerances" in result.output
    assert json.loads(out.read_text())["outputs"][0]["within"] is False


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x0a\x05hello world, not a graph", "not a TensorFlow GraphDef"),
        (None, "truncated"),
    ],
)
def test_a_bad_graph_file_is_exit_3_and_nothing_is_written(files, tmp_path, content, message):
    root, graph = files
    bad = tmp_path / "bad.pb"
    bad.write_bytes(content if content is not None else graph.read_bytes()[:5000])
    out = tmp_path / "r.json"
    args = ["eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "-n", "30"]
    env = {"FCDMBENCH_CACHE": str(tmp_path / "cache")}
    result = CliRunner().invoke(app, [*args, "--inception", str(bad), "--json", str(out)], env=env)
    assert result.exit_code == 3, result.output
    assert "error:" in result.output and "hint:" in result.output
    assert message in result.output.replace("\n", " ")
    assert not out.exists() and not (tmp_path / "cache").exists()
