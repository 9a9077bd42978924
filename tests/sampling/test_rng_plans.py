"""The two random-number plans by hand: which images a batch makes and where its draws come from."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.sampling.config import LabelScheme
from fcdmbench.sampling.rng import FcdmbenchPlan, UpstreamPlan

SHAPE = (4, 2, 2)
CPU = torch.device("cpu")


def test_upstream_plan_interleaves_ranks_as_sample_ddp_names_its_pngs():
    # sample_ddp.py: index = j * world + rank + total, total += B * world per iteration.
    plan = UpstreamPlan(seed=0, num=10, batch_size=2, num_classes=1000, world=3)
    assert plan.iterations == 2 and plan.num_batches == 6  # ceil(10 / 6) batches per rank
    assert plan.indices(0).tolist() == [0, 3]  # rank 0, iteration 0
    assert plan.indices(2).tolist() == [2, 5]  # rank 2, iteration 0
    assert plan.indices(4).tolist() == [7, 10]  # rank 1, iteration 1 (10 >= num: dropped)
    assert plan.blocks() == [[0, 1, 2], [3, 4, 5]]
    covered = sorted(i for b in range(6) for i in plan.indices(b).tolist())
    assert covered == list(range(12))
    # A rank resumes from its first missing batch and redraws everything after it.
    assert plan.mine([4], rank=1, world=3) == [4]
    assert plan.mine([1, 5], rank=2, world=3) == [5]
    assert plan.mine([], rank=0, world=3) == []
    assert plan.previous(4) == 1 and plan.previous(2) is None


def test_upstream_plan_draws_z_then_labels_then_noise_from_the_global_seed():
    plan = UpstreamPlan(seed=7, num=4, batch_size=2, num_classes=1000, world=2)
    plan.begin(rank=1, world=2, state=None, device=CPU)
    first = plan.draw(1, SHAPE, CPU)
    step_noise = first.noise(torch.zeros(4, *SHAPE))  # 2B rows under CFG
    torch.manual_seed(7 * 2 + 1)  # seed * world_size + rank, as sample_ddp.py
    assert torch.equal(first.z, torch.randn(2, *SHAPE))
    assert torch.equal(first.labels, torch.randint(0, 1000, (2,)))
    assert torch.equal(step_noise, torch.randn(4, *SHAPE))


def test_upstream_plan_resumes_from_the_state_saved_after_a_batch():
    plan = UpstreamPlan(seed=0, num=8, batch_size=2, num_classes=10, world=1)
    plan.begin(0, 1, None, CPU)
    plan.draw(0, SHAPE, CPU).noise(torch.zeros(2, *SHAPE))
    saved = plan.state(CPU)
    uninterrupted = plan.draw(1, SHAPE, CPU)
    torch.manual_seed(123)  # whatever ran in between
    torch.randn(5)
    plan.begin(0, 1, saved, CPU)
    resumed = plan.draw(1, SHAPE, CPU)
    assert torch.equal(resumed.z, uninterrupted.z)
    assert torch.equal(resumed.labels, uninterrupted.labels)


def test_fcdmbench_plan_batches_are_independent_of_order_and_rank():
    plan = FcdmbenchPlan(seed=0, num=5, batch_size=2, labels=LabelScheme.RANDOM, num_classes=10)
    assert [plan.indices(b).tolist() for b in range(plan.num_batches)] == [[0, 1], [2, 3], [4]]
    late = plan.draw(2, SHAPE, CPU)
    plan.draw(0, SHAPE, CPU)
    again = plan.draw(2, SHAPE, CPU)
    assert torch.equal(late.z, again.z) and late.z.shape == (1, *SHAPE)
    assert plan.mine([0, 1, 2], rank=1, world=2) == [1] and plan.previous(2) is None
    assert np.array_equal(late.labels.numpy(), plan.draw(2, SHAPE, CPU).labels.numpy())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "balanced"], "draws labels as upstream does"),
        (["--sampler", "sde"], "not the flow script"),
    ],
)
def test_rng_upstream_rejects_what_upstream_cannot_do(tmp_path, args, message):
    result = CliRunner().invoke(
        app,
        ["sample", "fcdm-s", "--smoke", "--num", "1", "--rng", "upstream", *args]
        + ["--out", str(tmp_path / "x.npz")],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_rng_upstream_run_resumes_from_saved_generator_state(tmp_path, one_thread, monkeypatch):
    """Shards 2 and 3 deleted: the rerun continues the stream from shard 1's saved state."""
    args = ["sample", "fcdm-s", "--smoke", "--num", "4", "--batch-size", "1", "--steps", "3"]
    args += ["--set", "width=16", "--set", "depths=1,1,1,1,1", "--rng", "upstream"]
    args += ["--cfg-scale", "4", "--device", "cpu", "--keep-shards"]
    runner = CliRunner()
    full = tmp_path / "full.npz"
    assert runner.invoke(app, [*args, "--out", str(full)]).exit_code == 0
    part = tmp_path / "part.npz"
    assert runner.invoke(app, [*args, "--out", str(part)]).exit_code == 0
    for batch in (2, 3):
        (tmp_path / "part.shards" / f"batch-{batch:06d}.npz").unlink()
    part.unlink()
    result = runner.invoke(app, [*args, "--out", str(part), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["resumed"] and record["batches_generated_this_run"] == 2
    with np.load(full) as want, np.load(part) as got:
        assert np.array_equal(got["arr_0"], want["arr_0"])
        assert np.array_equal(got["arr_1"], want["arr_1"])
    # Negative control: resuming without the saved state restarts the stream (wrong images).
    monkeypatch.setattr(UpstreamPlan, "previous", lambda self, batch: None)
    for batch in (2, 3):
        (tmp_path / "part.shards" / f"batch-{batch:06d}.npz").unlink()
    part.unlink()
    assert runner.invoke(app, [*args, "--out", str(part)]).exit_code == 0
    with np.load(full) as want, np.load(part) as got:
        assert not np.array_equal(got["arr_1"][2:], want["arr_1"][2:])
        assert np.array_equal(got["arr_1"][2:], want["arr_1"][:2])  # batches 0, 1 drawn again
