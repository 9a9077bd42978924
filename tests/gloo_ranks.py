"""Starting `fcdmbench` as gloo ranks on CPU, the way torchrun starts them (test helpers).

Loopback only: ``MASTER_ADDR=127.0.0.1`` on a free port, ``GLOO_SOCKET_IFNAME=lo``, one thread per
rank. Every wait is the caller's to bound; `kill_all` ends what is left (call it in ``finally``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int) -> dict:
    return dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        GLOO_SOCKET_IFNAME="lo",
    )


def launch_ranks(
    args: list[str],
    world: int,
    main: tuple[str, ...] = ("-m", "fcdmbench"),
    env: dict | None = None,
) -> list[subprocess.Popen]:
    """``python -m fcdmbench ARGS`` once per rank (stdout/stderr piped, text); `main` replaces
    ``-m fcdmbench`` (e.g. ``("-c", SCRIPT)``), `env` adds variables."""
    port = free_port()
    return [
        subprocess.Popen(
            [sys.executable, *main, *args],
            env={**rank_env(rank, world, port), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]


def kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)
