"""TensorFlow stays quiet: importing it for the evaluator writes nothing to stderr unless the user
asked for its logging (TF_CPP_MIN_LOG_LEVEL set; `fcdmbench --debug` sets it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app

pytest.importorskip("tensorflow")

IMPORT_AND_RUN = (
    "from fcdmbench.evaluation.inception.tf_inception import import_tensorflow\n"
    "tf = import_tensorflow('a test')\n"
    "with tf.compat.v1.Session() as session:\n"
    "    print(session.run(tf.constant(1.0) + 1))\n"
)


def _stderr_of_import(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_RUN],
        capture_output=True,
        text=True,
        env={**clean, **env},
    )
    assert done.returncode == 0 and done.stdout.strip() == "2.0", done.stderr
    return done.stderr


@pytest.mark.slow  # two TensorFlow start-ups, 5-12 s
def test_tensorflow_import_writes_nothing_to_stderr():
    noisy = _stderr_of_import(TF_CPP_MIN_LOG_LEVEL="0")  # what the user asks for with --debug
    if not noisy.strip():
        pytest.skip("this TensorFlow logs nothing on import here: nothing to hide")
    assert _stderr_of_import() == ""


def test_debug_asks_for_tensorflow_logging(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "unset below")  # restored after the test
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert CliRunner().invoke(app, ["models", "list"]).exit_code == 0
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert CliRunner().invoke(app, ["--debug", "models", "list"]).exit_code == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
