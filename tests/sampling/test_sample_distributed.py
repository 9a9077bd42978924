"""Two gloo processes on CPU (loopback only): one rank is killed, a rerun resumes from the shards.

The processes are started the way torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR=127.0.0.1, MASTER_PORT), so the test can SIGKILL one rank by pid. Every wait is
bounded; leftover processes are killed in `finally`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest
from gloo_ranks import kill_all, launch_ranks

ARGS = [
    "sample",
    "fcdm-s",
    "--smoke",
    "--num",
    "4",
    "--batch-size",
    "1",
    "--steps",
    "10",
    "--set",
    "width=16",
    "--set",
    "depths=1,1,1,1,1",
    "--device",
    "cpu",
    "--json",
]


@pytest.mark.slow  # ~30 s of CPU; three waves of process start-up (torch + diffusers imports)
def test_two_gloo_ranks_resume_after_one_is_killed(tmp_path):
    import torch
    from typer.testing import CliRunner

    from fcdmbench.cli.main import app

    reference = tmp_path / "ref.npz"  # one uninterrupted process (this one, on one thread)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        done = CliRunner().invoke(app, [*ARGS, "--out", str(reference)])
    finally:
        torch.set_num_threads(threads)
    assert done.exit_code == 0, done.output

    out = tmp_path / "run.npz"
    shard_dir = tmp_path / "run.shards"
    procs = launch_ranks([*ARGS, "--keep-shards", "--out", str(out)], 2)
    try:
        deadline = time.monotonic() + 120
        while not (shard_dir / "batch-000001.npz").exists():  # rank 1's first batch
            assert time.monotonic() < deadline, "rank 1 wrote no shard in time"
            assert procs[1].poll() is None, procs[1].communicate()[1]
            time.sleep(0.02)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(timeout=30)
        try:  # rank 0 either fails at the barrier (peer gone) or is stopped here
            procs[0].wait(timeout=20)
        except subprocess.TimeoutExpired:
            procs[0].kill()
    finally:
        kill_all(procs)
    assert not out.exists()
    before = sorted(p.name for p in shard_dir.glob("batch-*.npz"))
    assert "batch-000001.npz" in before and len(before) < 4, before
    mtimes = {name: (shard_dir / name).stat().st_mtime_ns for name in before}

    procs = launch_ranks([*ARGS, "--keep-shards", "--out", str(out)], 2)
    try:
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        kill_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    record = json.loads(results[0][0])
    assert record["resumed"] is True and record["world_size"] == 2
    assert record["backend"] == "gloo"
    assert record["batches_generated_this_run"] == 4 - len(before)
    for name, mtime in mtimes.items():  # shards from the killed run were reused, not redone
        assert (shard_dir / name).stat().st_mtime_ns == mtime
    with np.load(out) as got, np.load(reference) as want:
        np.testing.assert_array_equal(got["arr_1"], want["arr_1"])
        np.testing.assert_array_equal(got["arr_0"], want["arr_0"])
