"""End to end through the real graph-loading and batching path, with a stand-in frozen graph.

The stand-in has ADM's tensor names (``ExpandDims:0`` input, ``pool_3:0`` (B,1,1,2048),
``mixed_6/conv:0`` (B,17,17,8), ``softmax/logits/MatMul``) and is built here with TensorFlow.
It checks batching (results equal per-image runs), caching, resume and every bad-input case.
A 2048-d matrix square root takes a minute or more on the shared 2-core CPU machine, so here
`frechet_distance` is replaced by a recorder returning the mean term only: these tests check
which statistics reach it and in which order; the FID arithmetic itself is checked against ADM
in test_metrics.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

tf = pytest.importorskip("tensorflow")

from fcdmbench.cli.main import app  # noqa: E402
from fcdmbench.evaluation.config import EvalConfig  # noqa: E402
from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn  # noqa: E402
from fcdmbench.evaluation.evaluate import evaluate  # noqa: E402
from fcdmbench.evaluation.inception.backends import InceptionBackend  # noqa: E402
from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor  # noqa: E402
from fcdmbench.evaluation.metrics import (  # noqa: E402
    SqrtmMethod,
    precision_recall,
    probs_to_inception_score,
)
from fcdmbench.evaluation.preflight import preflight_eval  # noqa: E402
from fcdmbench.evaluation.statistics import features_to_stats  # noqa: E402
from fcdmbench.records.evaluation import EvalRecord, SamplerSettings  # noqa: E402
from fcdmbench.records.io import read_record  # noqa: E402
from fcdmbench.records.sampling import SampleRecord  # noqa: E402

RES = 16


def build_standin_graph(path):
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="DecodeJpeg")
        batch = tf.expand_dims(image, 0, name="ExpandDims")
        resized = tf.compat.v1.image.resize_bilinear(batch, [35, 35], name="ResizeBilinear")
        kernel = tf.constant(rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.01)
        conv = tf.nn.relu(tf.nn.conv2d(resized, kernel, strides=2, padding="VALID"))
        conv = tf.identity(conv, name="mixed_6/conv")  # (B, 17, 17, 8)
        lift = tf.constant(rng.standard_normal((8, 2048)).astype(np.float32))
        pooled = tf.nn.relu(tf.matmul(tf.reduce_mean(conv, axis=[1, 2]), lift))
        pool = tf.reshape(pooled, [-1, 1, 1, 2048], name="pool_3")
        weights = tf.constant(rng.standard_normal((2048, 1008)).astype(np.float32) * 0.01)
        tf.matmul(tf.reshape(pool, [-1, 2048]), weights, name="softmax/logits/MatMul")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def images(seed, num, res=RES):
    return np.random.default_rng(seed).integers(0, 256, (num, res, res, 3), dtype=np.uint8)


CALLS: list = []


@pytest.fixture(autouse=True)
def cheap_frechet(monkeypatch):
    import fcdmbench.evaluation.evaluate as ev

    def recorder(sample, ref, *, method=SqrtmMethod.ADM):
        CALLS.append((sample, ref, method))
        diff = sample.mu - ref.mu
        return float(diff.dot(diff))

    CALLS.clear()
    monkeypatch.setattr(ev, "frechet_distance", recorder)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    graph = build_standin_graph(root / "standin.pb")
    np.savez(root / "ref.npz", arr_0=images(1, 40))
    np.savez(root / "samples.npz", arr_0=images(2, 30))
    return root, graph


def run_cli(args, root, graph):
    """`fcdmbench eval ...` on the stand-in graph, which only TensorFlow runs (its ops are not
    those of ADM's graph; the torch backend's end-to-end tests are in test_torch_backend.py)."""
    env = {"FCDMBENCH_CACHE": str(root / "cache"), "FCDMBENCH_INCEPTION": str(graph)}
    if args[:1] == ["eval"]:
        args = ["eval", "--backend", "tensorflow", *args[1:]]
    return CliRunner().invoke(app, args, env=env)


def test_batched_extraction_equals_per_image_runs(world):
    root, graph = world
    x = images(3, 5)
    extractor = InceptionExtractor(graph, batch_size=2)
    pool, spatial = extractor.extract([x[:2], x[2:4], x[4:]])
    assert pool.shape == (5, 2048) and spatial.shape == (5, 17 * 17 * 7)
    for i in range(5):
        one_pool, one_spatial = extractor.extract_batch(x[i : i + 1])
        np.testing.assert_allclose(pool[i], one_pool[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(spatial[i], one_spatial[0], rtol=1e-5, atol=1e-6)


def test_evaluate_end_to_end_matches_metrics_on_its_activations(world):
    root, graph = world
    config = EvalConfig(
        samples=root / "samples.npz",
        ref=str(root / "ref.npz"),
        num=30,
        batch_size=8,
        cache_dir=root / "cache-api",
        inception_path=graph,
        backend=InceptionBackend.TENSORFLOW,
        meta={"cfg": 1.5},
    )
    result = evaluate(config)
    extractor = InceptionExtractor(graph, batch_size=8)
    ref_pool, ref_spatial = extractor.extract([images(1, 40)])
    pool, spatial = extractor.extract([images(2, 30)])
    (fid_s, fid_r, method), (sfid_s, sfid_r, _) = CALLS
    assert method is SqrtmMethod.ADM
    np.testing.assert_allclose(fid_s.mu, features_to_stats(pool).mu, rtol=1e-5)  # sample first
    np.testing.assert_allclose(fid_r.mu, features_to_stats(ref_pool).mu, rtol=1e-5)
    assert sfid_s.dim == sfid_r.dim == 17 * 17 * 7
    np.testing.assert_allclose(sfid_r.sigma, features_to_stats(ref_spatial).sigma, atol=1e-6)
    assert result.inception_score == pytest.approx(
        probs_to_inception_score(extractor.pool_to_probs(pool)), rel=1e-5
    )
    pr = precision_recall(ref_pool, pool, distance_fn=get_distance_fn(DistanceBackend.ADM))
    assert (result.precision, result.recall) == (pr.precision, pr.recall)
    # ADM-exact where torch's float16 products are the ones measured equal to TensorFlow's
    assert result.meta == {"cfg": 1.5} and result.mode.adm_exact is DistanceBackend.ADM.adm_exact
    assert result.sampler == SamplerSettings(source="--meta", cfg_scale=1.5)
    assert result.model is None and result.resolution == RES and result.run.fcdmbench
    assert result.env.device_type == "cpu" and result.tensorflow.version == tf.__version__
    assert result.mode.mirrored_products == "not used"  # one block per set: nothing to mirror
    assert result.mode.sqrtm_fallback is None
    assert result.reference.stats == "computed from the reference images"
    again = evaluate(config)
    assert again.samples.activations_cached and again.reference.activations_cached
    assert again.precision == result.precision


def test_stored_reference_stats_are_used(world):
    root, graph = world
    mu, sigma = np.arange(2048.0), np.eye(2048)
    mu_s, sigma_s = np.zeros(2023), np.eye(2023) * 2
    np.savez(
        root / "ref_stats.npz", arr_0=images(1, 40), mu=mu, sigma=sigma, mu_s=mu_s, sigma_s=sigma_s
    )
    result = evaluate(
        EvalConfig(
            samples=root / "samples.npz",
            ref=str(root / "ref_stats.npz"),
            num=30,
            cache_dir=root / "cache-api",
            inception_path=graph,
            backend=InceptionBackend.TENSORFLOW,
        )
    )
    (_, fid_r, _), (_, sfid_r, _) = CALLS
    assert fid_r.mu is not None and np.array_equal(fid_r.mu, mu)
    assert np.array_equal(sfid_r.sigma, sigma_s)
    assert result.reference.stats.startswith("stored")


class Interrupted(Exception):
    pass


def test_interrupted_extraction_resumes(world, monkeypatch):
    import fcdmbench.evaluation.activations as act
    from fcdmbench.evaluation.cache import ActivationCache

    root, graph = world
    np.savez(root / "many.npz", arr_0=images(4, 50))
    monkeypatch.setenv(act.CHUNK_ENV, "16")
    extractor = InceptionExtractor(graph, batch_size=8)
    real = extractor.extract
    state = {"calls": 0, "fail_at": 3}

    def flaky(batches, on_batch=None):
        state["calls"] += 1
        if state["calls"] == state["fail_at"]:
            raise Interrupted
        return real(batches, on_batch)

    extractor.extract = flaky
    cache = ActivationCache(root / "cache-resume", "sha-of-many", extractor.extractor_id)
    with pytest.raises(Interrupted):
        act.extract_activations(extractor, root / "many.npz", 50, cache)
    state.update(calls=0, fail_at=-1)
    arrays, hit = act.extract_activations(extractor, root / "many.npz", 50, cache)
    assert state["calls"] == 2 and not hit  # chunks 0-16 and 16-32 were kept; 32-48, 48-50 run
    np.testing.assert_allclose(arrays["pool"], real([images(4, 50)])[0], rtol=1e-5, atol=1e-6)
    assert act.extract_activations(extractor, root / "many.npz", 50, cache)[1]


@pytest.fixture(scope="module")
def sampled(world):
    """`fcdmbench sample --smoke` output (npz + its sample record) and a 256 px reference."""
    import torch

    root, graph = world
    out = root / "smoke.npz"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(
            app,
            [
                "sample",
                "fcdm-s",
                "--smoke",
                "--num",
                "6",
                "--steps",
                "2",
                "--batch-size",
                "3",
                "--cfg-scale",
                "1",
                "--set",
                "width=16",
                "--set",
                "depths=1,1,1,1,1",
                "--out",
                str(out),
            ],
        )
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    np.savez(root / "ref256.npz", arr_0=images(7, 12, res=256))
    return out, root / "ref256.npz"


def test_cli_eval_records_sampler_settings_and_allow_fewer(world, sampled):
    root, graph = world
    samples, ref = sampled
    out = root / "rec.json"
    args = ["eval", str(samples), "--ref", str(ref), "--num", "30", "--allow-fewer"]
    args += ["--meta", "steps=250,cfg=1.5", "--training-steps", "400000", "--json", str(out)]
    result = run_cli(args, root, graph)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["schema"] == "fcdmbench.eval/3"
    record = read_record(out, kind=EvalRecord)
    sample = read_record(f"{samples}.json", kind=SampleRecord)
    assert (record.model, record.model_source) == ("fcdm-s", "sample record")
    assert record.sample_record == f"{samples}.json" and record.training_steps == 400_000
    assert record.sampler.steps == 2 and record.sampler.smoke  # from the sample record...
    assert record.sampler.checkpoint_sha256 is None and record.sampler.name == sample.sampler.name
    assert record.meta == {"steps": 250, "cfg": 1.5}  # ...what the user typed is kept as given
    assert record.allow_fewer is True and record.num_samples == 6 and record.resolution == 256
    assert not record.is_paper_protocol  # 6 smoke samples are not FID-50K
    assert "FID" in result.stdout and record.env.device_type == "cpu"
    conflict = run_cli(
        [
            "eval",
            str(samples),
            "--ref",
            str(ref),
            "--num",
            "6",
            "--model",
            "fcdm-xl",
            "--json",
            str(root / "x.json"),
        ],
        root,
        graph,
    )
    assert conflict.exit_code == 3 and "contradicts" in conflict.output


def test_model_from_meta_or_model_option_without_a_sample_record(world):
    root, graph = world
    base = ["eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "--num", "30"]
    for extra, source in (
        (["--meta", "model=FCDM-S,steps=250"], "--meta"),
        (["--model", "dit-xl"], "--model"),
    ):
        out = root / f"m{len(source)}.json"
        assert run_cli([*base, *extra, "--json", str(out)], root, graph).exit_code == 0
        record = read_record(out, kind=EvalRecord)
        assert record.model_source == source and record.sample_record is None
        assert record.model == ("fcdm-s" if source == "--meta" else "dit-xl-2")
    unknown = run_cli([*base, "--model", "fcdm-xxl"], root, graph)
    assert unknown.exit_code == 2 and "fcdm-xl" in unknown.output


def test_cli_eval_checks_once_and_its_record_path_with_the_rest(world, monkeypatch):
    """The library owns the eval preflight: `fcdmbench eval` runs it once, with the record path
    the CLI will write, so a bad output path is listed with the other problems."""
    import fcdmbench.evaluation.evaluate as ev

    root, graph = world
    calls = []

    def counted(config, **kwargs):
        calls.append([str(p) for p in kwargs.get("outputs", ())])
        return preflight_eval(config, **kwargs)

    monkeypatch.setattr(ev, "preflight_eval", counted)
    out = root / "once.json"
    base = ["eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "--num", "30"]
    assert run_cli([*base, "--json", str(out)], root, graph).exit_code == 0
    assert calls == [[str(out)]]
    bad = run_cli(
        ["eval", str(root / "missing.npz"), "--ref", str(root / "ref.npz"), "--json",
         "/nonexistent-fcdmbench/dir/out.json"],
        root,
        graph,
    )  # fmt: skip
    assert bad.exit_code == 3
    assert "2 problems" in bad.output and "missing.npz" in bad.output
    assert "/nonexistent-fcdmbench/dir" in bad.output


def test_sample_and_eval_records_land_in_the_report(world, sampled, tmp_path):
    """`sample --smoke` -> `eval` -> `report`: the metrics sit in Table 2's FCDM-S row, with
    their sample count and no delta (6 smoke samples are not the paper's FID-50K)."""
    import csv
    import io

    root, graph = world
    samples, ref = sampled
    out = tmp_path / "eval.json"
    args = ["eval", str(samples), "--ref", str(ref), "--num", "6", "--training-steps", "400000"]
    assert run_cli([*args, "--json", str(out)], root, graph).exit_code == 0
    record = read_record(out, kind=EvalRecord)
    report = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--records",
            str(out),
            "--records",
            f"{samples}.json",
            "--no-meta",
            "--format",
            "md,csv",
            "--out",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (report / "tables" / "table2.csv").read_text()
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["model"] == "FCDM-S")
    on = f"eval {record.env.device_slug} n=6 smoke"
    assert row["fid_paper"] == "48.52" and row["fid_measured_on"] == on
    assert float(row["fid_measured"]) == round(record.fid, 4)
    assert row["fid_delta"] == "" and row["fid_comparable"] == "no"
    assert float(row["recall_measured"]) == round(record.recall, 4)
    md = (report / "report.md").read_text()
    assert f"| 48.52 | {record.fid:.2f} ({on}) | not comparable |" in md
    assert "1 sample record(s)" in md


def _bad(root, name, **arrays):
    path = root / name
    np.savez(path, **arrays)
    return path


BAD_CASES = {
    "float": (lambda r: _bad(r, "f.npz", arr_0=images(5, 30).astype(np.float32)), "not uint8"),
    "nan": (
        lambda r: _bad(r, "n.npz", arr_0=np.full((30, RES, RES, 3), np.nan, np.float32)),
        "NaN or inf",
    ),
    "int16": (lambda r: _bad(r, "i.npz", arr_0=images(5, 30).astype(np.int16)), "not uint8"),
    "nchw": (lambda r: _bad(r, "c.npz", arr_0=images(5, 30).transpose(0, 3, 1, 2).copy()), "NCHW"),
    "no_arr_0": (lambda r: _bad(r, "k.npz", images=images(5, 30)), "no 'arr_0'"),
    "missing": (lambda r: r / "absent.npz", "not found"),
    "not_npz": (lambda r: _write(r / "t.npz", b"hello"), "not an npz"),
    "truncated": (lambda r: _truncate(_bad(r, "tr.npz", arr_0=images(5, 30))), "truncated"),
    "resolution": (lambda r: _bad(r, "res.npz", arr_0=images(5, 30, res=8)), "reference batch"),
    "too_few": (lambda r: _bad(r, "few.npz", arr_0=images(5, 10)), "fewer than --num"),
}


def _write(path, data):
    path.write_bytes(data)
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_inputs_exit_3_with_message(world, case):
    root, graph = world
    make, expected = BAD_CASES[case]
    path = make(root)
    result = run_cli(
        ["eval", str(path), "--ref", str(root / "ref.npz"), "--num", "30"], root, graph
    )
    assert result.exit_code == 3, result.output
    assert expected in result.output and "hint:" in result.output


def test_mirror_note_names_every_checked_shape():
    from fcdmbench.evaluation.distance import SplitADMKernel, mirror_note

    kernel = SplitADMKernel({(10, 10, 4): True, (10, 3, 4): False, (9, 9, 4): True})
    kernel.shapes_used.update({(10, 10, 4), (10, 3, 4)})
    assert mirror_note(kernel) == "10x3x4: differ, both computed, 10x10x4: bit-equal, reused"
    assert mirror_note(lambda u, v: u) == "not used"


def test_mirror_note_reports_only_this_runs_shapes():
    """Mirror verdicts are shared by the process, but each evaluation's kernel reports only the
    shapes it computed (else a record's note would depend on what ran before it)."""
    from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn, mirror_note

    first = get_distance_fn(DistanceBackend.ADM)
    rng = np.random.default_rng(0)
    first.pair(rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((5, 4)))
    assert "6x5x4" in mirror_note(first)
    second = get_distance_fn(DistanceBackend.ADM)  # a new evaluation: no pair computed yet
    assert mirror_note(second) == "not used"
    assert (6, 5, 4) in second.mirror_checks  # the verdict itself is kept for reuse


def test_eigh_falls_back_to_adm_where_a_covariance_is_singular(world):
    """30 sample and 40 reference images: both covariances are singular in 2048 and 2023
    dimensions, so ADM's square root runs and the record says why."""
    root, graph = world
    config = EvalConfig(
        samples=root / "samples.npz",
        ref=str(root / "ref.npz"),
        num=30,
        cache_dir=root / "cache-api",
        inception_path=graph,
        backend=InceptionBackend.TENSORFLOW,
        sqrtm=SqrtmMethod.EIGH,
    )
    result = evaluate(config)
    assert [method for _, _, method in CALLS] == [SqrtmMethod.ADM, SqrtmMethod.ADM]
    assert result.mode.sqrtm == "eigh" and result.mode.adm_exact is DistanceBackend.ADM.adm_exact
    assert "FID (2048-d) and sFID (2023-d): 30 images" in result.mode.sqrtm_fallback


def test_sqrtm_choice_per_metric():
    from fcdmbench.evaluation.evaluate import _sqrtm_methods

    pool, spatial = np.empty((1, 2048)), np.empty((1, 2023))
    eigh, adm = SqrtmMethod.EIGH, SqrtmMethod.ADM
    assert _sqrtm_methods(eigh, (50_000, 2049), (pool, spatial)) == ((eigh, eigh), None)
    methods, note = _sqrtm_methods(eigh, (50_000, 2030), (pool, spatial))
    assert methods == (adm, eigh) and note.startswith("adm instead of eigh for FID (2048-d):")
    assert _sqrtm_methods(adm, (10,), (pool, spatial)) == ((adm, adm), None)


@pytest.mark.slow
def test_torchrun_two_ranks_give_the_one_process_record(world, tmp_path):
    """Two gloo ranks, started as torchrun starts them, extract alternate chunks; rank 0 gathers
    them and its record's metrics equal one process's (every chunk is extracted in the same
    batches either way). One thread in every process, as the ranks have: BLAS sums in another
    order with another thread count."""
    import os
    import subprocess
    import sys

    from gloo_ranks import kill_all, launch_ranks

    root, graph = world
    np.savez(tmp_path / "many.npz", arr_0=images(5, 40))
    args = ["eval", "--backend", "tensorflow", str(tmp_path / "many.npz"), "--ref"]
    args += [str(root / "ref.npz"), "-n", "40", "--batch-size", "8", "--sqrtm", "eigh"]
    env = {"FCDMBENCH_INCEPTION": str(graph), "FCDMBENCH_EVAL_CHUNK": "16"}
    one = subprocess.run(
        [sys.executable, "-m", "fcdmbench", *args, "--json", str(tmp_path / "one.json")],
        env={**os.environ, **env, "FCDMBENCH_CACHE": str(tmp_path / "c1"), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0, one.stderr
    os.environ.update(env, FCDMBENCH_CACHE=str(tmp_path / "c2"))
    try:
        procs = launch_ranks([*args, "--json", str(tmp_path / "two.json")], world=2)
        outs = [p.communicate(timeout=600) for p in procs]
    finally:
        kill_all(procs)
        for key in (*env, "FCDMBENCH_CACHE"):
            os.environ.pop(key)
    assert [p.returncode for p in procs] == [0, 0], outs
    a, b = (read_record(tmp_path / f"{n}.json", kind=EvalRecord) for n in ("one", "two"))
    for name in ("inception_score", "fid", "sfid", "precision", "recall"):
        assert getattr(a, name) == getattr(b, name), name
    assert not list((tmp_path / "c2").rglob("parts/*.npz"))  # rank 0 wrote the final file
    assert not outs[1][0].strip()  # rank 1 prints no table
