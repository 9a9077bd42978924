"""Every bad input a user can give ends in an ``error:`` line, a ``hint:`` line and the documented
exit code (README "Errors and exit codes"), with no traceback, and creates no file or folder.

One table: each case names the files it needs (made in a scratch folder), the command line, the
exit code and the fault the message must name. The scratch folder has ``cwd/`` (the current
directory, where outputs may create folders) and ``outside/`` (an existing folder elsewhere, where
they may not); the whole tree is snapshotted before and after each command. Reference files,
caches and baselines point into the scratch folder, so nothing in the user's home is read or
written.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app

RECORDED = Path(__file__).parents[1] / "fixtures" / "throughput" / "cpu-fcdm-s-bs2.json"


def _images(path: Path, shape, dtype=np.uint8) -> None:
    np.savez(path, arr_0=np.zeros(shape, dtype))


def _fake_header(path: Path) -> None:
    """An npz whose header declares 10,000,000 x 256 x 256 x 3 images over 1 KB of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10_000_000, 256, 256, 3)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("arr_0.npy", header.getvalue() + b"\0" * 1024)


FILES: dict[str, Callable[[Path], None]] = {
    "adir.npz": lambda p: p.mkdir(),
    "zero.npz": lambda p: _images(p, (0, 256, 256, 3)),
    "one.npz": lambda p: _images(p, (1, 256, 256, 3)),
    "ok.npz": lambda p: _images(p, (8, 256, 256, 3)),
    "rgba.npz": lambda p: _images(p, (8, 256, 256, 4)),
    "nchw.npz": lambda p: _images(p, (8, 3, 256, 256)),
    "float.npz": lambda p: _images(p, (8, 256, 256, 3), np.float32),
    "s64.npz": lambda p: _images(p, (8, 64, 64, 3)),
    "s512.npz": lambda p: _images(p, (8, 512, 512, 3)),
    "fake.npz": _fake_header,
    "text.npz": lambda p: p.write_text("not a zip\n"),
    "ckdir": lambda p: p.mkdir(),
    "passwd": lambda p: p.write_text("root:x:0:0:root:/root:/bin/bash\n"),  # /etc/passwd-like
    "recorded.json": lambda p: p.write_text(RECORDED.read_text()),
}


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    code: int
    fault: str  # must appear in the error text
    files: tuple[str, ...] = ()
    hint: str = ""  # must appear in the text too, when given
    env: dict[str, str] = field(default_factory=dict)


OUT = "{outside}/nonexistent/dir"  # a missing folder outside the current directory
CUDA_MISSING = "CUDA is not available"

CASES = [
    # eval: samples file
    Case("eval-directory", ["eval", "adir.npz"], 3, "is a directory", ("adir.npz",)),
    Case("eval-missing", ["eval", "gone.npz"], 3, "gone.npz not found"),
    Case("eval-not-zip", ["eval", "text.npz", "--num", "8"], 3, "not an npz", ("text.npz",)),
    Case("eval-0-images", ["eval", "zero.npz", "--allow-fewer"], 3, "0 images", ("zero.npz",)),
    Case(
        "eval-1-image-allow-fewer",
        ["eval", "one.npz", "--allow-fewer"],
        3,
        "too few for precision/recall",
        ("one.npz",),
        hint="at least 4",
    ),
    Case("eval-fewer-than-num", ["eval", "ok.npz"], 3, "fewer than --num", ("ok.npz",)),
    Case(
        "eval-truncated-header",
        ["eval", "fake.npz", "--num", "8"],
        3,
        "truncated or corrupt",
        ("fake.npz",),
    ),
    Case("eval-rgba", ["eval", "rgba.npz", "--num", "8"], 3, "4 channels", ("rgba.npz",), "alpha"),
    Case("eval-nchw", ["eval", "nchw.npz", "--num", "8"], 3, "NCHW", ("nchw.npz",), "transpose"),
    Case("eval-float", ["eval", "float.npz", "--num", "8"], 3, "not uint8", ("float.npz",)),
    Case(
        "eval-64px-vs-imagenet256",
        ["eval", "s64.npz", "--num", "8"],
        3,
        "64x64 px but reference batch 'imagenet256' is 256x256",
        ("s64.npz",),
    ),
    Case(
        "eval-512px-vs-imagenet256",
        ["eval", "s512.npz", "--num", "8"],
        3,
        "512x512 px but reference batch 'imagenet256'",
        ("s512.npz",),
        hint="--ref imagenet512",
    ),
    Case(
        "eval-every-missing-file-at-once",
        ["eval", "ok.npz", "--num", "8"],
        3,
        "Inception graph 'inception' not found at",
        ("ok.npz",),
        hint="fcdmbench reference fetch inception imagenet256",
    ),
    Case(
        "eval-missing-ref-path",
        ["eval", "ok.npz", "--num", "8", "--ref", "nope/ref.npz"],
        3,
        "reference file nope/ref.npz not found",
        ("ok.npz",),
    ),
    Case("eval-unknown-ref", ["eval", "ok.npz", "--ref", "imagenet9"], 2, "unknown reference"),
    Case(
        "eval-json-outside",
        ["eval", "ok.npz", "--num", "8", "--json", OUT + "/r.json"],
        3,
        "folder {outside}/nonexistent/dir does not exist",
        ("ok.npz",),
    ),
    Case(
        "eval-inception-is-directory",
        ["eval", "ok.npz", "--num", "8", "--inception", "ckdir"],
        3,
        "Inception graph ckdir is a directory",
        ("ok.npz", "ckdir"),
    ),
    Case("eval-bad-sqrtm", ["eval", "ok.npz", "--sqrtm", "fast"], 2, "fast", ("ok.npz",)),
    Case(
        "eval-missing-sample-record",
        ["eval", "ok.npz", "--num", "8", "--sample-record", "gone.json"],
        3,
        "record gone.json not found",
        ("ok.npz",),
    ),
    # usage errors: typer/click's own, in the house format
    Case("flops-resolution-0", ["flops", "-m", "fcdm-s", "--resolution", "0"], 2, "--resolution"),
    Case("unknown-command", ["flopz"], 2, "no such command 'flopz'", hint="did you mean flops"),
    Case("unknown-option", ["flops", "--bogus"], 2, "no such option: --bogus"),
    Case("missing-argument", ["eval"], 2, "missing argument", hint="fcdmbench eval samples.npz"),
    Case("bad-choice", ["throughput", "-m", "fcdm-s", "--precision", "fp64"], 2, "fp64"),
    # flops
    Case("flops-unknown-model", ["flops", "-m", "fcdm-q"], 2, "unknown model 'fcdm-q'"),
    Case(
        "flops-bad-counter",
        ["flops", "-m", "fcdm-s", "--counter", "x"],
        2,
        "'x' is not one of 'flop_counter', 'fvcore', 'torchprofile', 'all'",
    ),
    # roofline
    Case(
        "roofline-mode-train",
        ["roofline", "-m", "fcdm-s", "--mode", "train"],
        2,
        "roofline --mode train is gone",
        hint="use fcdmbench train-roofline",
    ),
    Case(
        "train-roofline-batch-split",
        ["train-roofline", "-m", "fcdm-s", "--batch", "10", "--gpus", "3"],
        2,
        "10",
    ),
    Case(
        "flops-json-outside",
        ["flops", "-m", "fcdm-s", "--json", OUT + "/out.json", "--csv", OUT + "/out.csv"],
        3,
        "folder {outside}/nonexistent/dir does not exist",
        hint="mkdir -p",
    ),
    Case(
        "flops-json-is-directory",
        ["flops", "-m", "fcdm-s", "--json", "ckdir"],
        3,
        "is a directory",
        ("ckdir",),
    ),
    # sample
    Case(
        "sample-missing-ckpt",
        ["sample", "fcdm-s", "--ckpt", "missing.pt", "-n", "2", "--out", "s.npz"],
        3,
        "checkpoint missing.pt not found",
        hint="--ckpt",
    ),
    Case(
        "sample-ckpt-directory",
        ["sample", "fcdm-s", "--ckpt", "ckdir", "-n", "2", "--out", "s.npz"],
        3,
        "is a directory",
        ("ckdir",),
    ),
    Case(
        "sample-ckpt-not-a-checkpoint",
        ["sample", "fcdm-s", "--ckpt", "passwd", "-n", "2", "--out", "s.npz", "--vae", "ema"],
        3,
        "passwd is not a checkpoint",
        ("passwd",),
        hint="pass the .pt file",
    ),
    Case(
        "sample-missing-vae-folder",
        ["sample", "fcdm-s", "--ckpt", "recorded.json", "-n", "2", "--out", "s.npz"]
        + ["--vae", "./sd-vae-missing"],
        3,
        "VAE folder sd-vae-missing not found",
        ("recorded.json",),
        hint="save_pretrained",
    ),
    Case(
        "sample-ckpt-and-smoke",
        ["sample", "fcdm-s", "--smoke", "--ckpt", "recorded.json", "-n", "2", "--out", "s.npz"],
        2,
        "exactly one of --ckpt",
        ("recorded.json",),
    ),
    Case(
        "sample-out-not-npz", ["sample", "fcdm-s", "--smoke", "-n", "2", "-o", "s.png"], 2, ".npz"
    ),
    Case(
        "sample-out-outside",
        ["sample", "fcdm-s", "--smoke", "-n", "2", "--out", OUT + "/s.npz"],
        3,
        "does not exist",
    ),
    Case(
        "sample-bad-resolution",
        ["sample", "fcdm-s", "--smoke", "-n", "2", "-o", "s.npz", "--resolution", "300"],
        2,
        "not 300",
    ),
    Case("sample-unknown-model", ["sample", "fcdm-q", "--smoke", "-n", "2", "-o", "s.npz"], 2, "q"),
    # throughput and baselines
    Case("throughput-no-model", ["throughput", "--device", "cpu"], 2, "no model given"),
    Case(
        "throughput-out-outside",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--out", OUT + "/t.json"],
        3,
        "does not exist",
    ),
    Case(
        "throughput-update-baseline-3-blocks",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--blocks", "3", "--update-baseline"]
        + ["--baselines-dir", "b"],
        2,
        "at least 5 timed blocks",
        hint="--force",
    ),
    Case(
        "throughput-check-outside-checkout",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--check"],
        3,
        "not inside a fcdmbench checkout",
        hint="--baselines-dir",
    ),
    Case(
        "throughput-bad-resolution",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--resolution", "100"],
        2,
        "not 100",
    ),
    Case(
        "throughput-cuda-graphs-on-cpu",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--cuda-graphs"],
        2,
        "--cuda-graphs needs a CUDA device",
    ),
    Case(
        "throughput-bad-compile-mode",
        ["throughput", "-m", "fcdm-s", "--device", "cpu", "--compile", "fastest"],
        2,
        "not a torch.compile mode",
        hint="max-autotune",
    ),
    Case(
        "baseline-compare-missing",
        ["baseline", "compare", "gone.json", "--baselines-dir", "b"],
        3,
        "record gone.json not found",
        hint="fcdmbench throughput",
    ),
    Case(
        "baseline-update-outside-checkout",
        ["baseline", "update", "recorded.json"],
        3,
        "not inside a fcdmbench checkout",
        ("recorded.json",),
    ),
    Case(
        "baseline-update-noisy",
        ["baseline", "update", "recorded.json", "--baselines-dir", "b"],
        5,
        "refusing to store this run as a baseline: canary IQR/median",
        ("recorded.json",),
        hint="--force",
    ),
    Case(
        "baseline-update-missing",
        ["baseline", "update", "gone.json", "--baselines-dir", "b"],
        3,
        "record gone.json not found",
        hint="fcdmbench throughput",
    ),
    # reference files
    Case("reference-verify-missing", ["reference", "verify"], 5, "missing: inception"),
    Case("reference-verify-unknown", ["reference", "verify", "imagenet9"], 2, "imagenet9"),
    # report, analyze, models
    Case("report-missing-records", ["report", "--records", "gone", "--no-meta"], 3, "gone"),
    Case(
        "report-out-outside",
        ["report", "--out", OUT + "/r", "--no-meta"],
        3,
        "does not exist",
    ),
    Case(
        "analyze-out-outside",
        ["analyze", "spectral", "fcdm-s", "--smoke", "--synthetic", "--out", OUT + "/fig"],
        3,
        "does not exist",
    ),
    Case(
        "analyze-no-weights",
        ["analyze", "spectral", "fcdm-s", "--out", "fig"],
        2,
        "give one --ckpt per model",
        hint="--smoke",
    ),
    Case(
        "sample-bad-respacing",
        ["sample", "fcdm-s", "--smoke", "-n", "2", "--respacing", "abc", "-o", "s.npz"],
        2,
        "respacing 'abc'",
        hint="--respacing ddim50",
    ),
    Case(
        "sample-ddim-stride-impossible",
        ["sample", "fcdm-s", "--smoke", "-n", "2", "--respacing", "ddim999", "-o", "s.npz"],
        2,
        "no integer stride",
        hint="ddim50",
    ),
    Case("models-show-unknown", ["models", "show", "fcdm-q"], 2, "fcdm-q"),
]

if not sys.modules.get("torch") or not __import__("torch").cuda.is_available():
    CASES += [
        Case(
            "sample-cuda-without-gpu",
            ["sample", "fcdm-s", "--smoke", "-n", "2", "-o", "s.npz", "--device", "cuda"],
            4,
            CUDA_MISSING,
            hint="--device cpu",
        ),
        Case(
            "throughput-cuda-without-gpu",
            ["throughput", "-m", "fcdm-s", "--device", "cuda"],
            4,
            CUDA_MISSING,
            hint="--device cpu",
        ),
    ]


#: The heavy work of each command: none of it may start for a bad input. `evaluate` checks its
#: inputs itself (the library owns the eval preflight), so its heavy part is what follows.
HEAVY = (
    "fcdmbench.flops.run.run_flops",
    "fcdmbench.throughput.run.measure_throughput",
    "fcdmbench.evaluation.evaluate._evaluate_adm",
    "fcdmbench.sampling.sample.run_sampling",
    "fcdmbench.sampling.spectral.run_spectral",
    "fcdmbench.reporting.report.build_report",
)


@pytest.fixture
def no_heavy_work(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("heavy work started before the bad input was reported")

    for target in HEAVY:
        monkeypatch.setattr(target, refuse)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """``tmp/cwd`` as the current directory, ``tmp/outside`` elsewhere; env pointing inside."""
    cwd, outside = tmp_path / "cwd", tmp_path / "outside"
    cwd.mkdir()
    outside.mkdir()
    monkeypatch.chdir(cwd)
    env = {
        "FCDMBENCH_REFERENCE_DIR": str(tmp_path / "refs"),
        "FCDMBENCH_CACHE": str(tmp_path / "cache"),
        "FCDMBENCH_BASELINES": None,
        "FCDMBENCH_INCEPTION": None,
        "FCDMBENCH_VAE": None,
        "FCDMBENCH_CKPT": None,
        "FCDMBENCH_MANIFEST": None,
        "COLUMNS": "200",
    }
    return tmp_path, cwd, outside, env


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _assert_error_format(text: str, code: int, exit_code: int) -> None:
    assert exit_code == code, text
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert any(line.startswith("error: ") for line in lines), text
    assert any(line.startswith("hint: ") for line in lines), text
    assert "╭" not in text, text  # not typer's box


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, scratch, no_heavy_work):
    root, cwd, outside, env = scratch
    for name in case.files:
        FILES[name](cwd / name)
    before = _tree(root)
    argv = [a.replace("{outside}", str(outside)) for a in case.argv]
    result = CliRunner().invoke(app, argv, env={**env, **case.env})
    text = result.stderr
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    _assert_error_format(text, case.code, result.exit_code)
    assert case.fault.replace("{outside}", str(outside)) in " ".join(text.split()), text
    assert case.hint in " ".join(text.split()), text
    assert _tree(root) == before, "files or folders appeared"


def test_literal_nonexistent_root_folder_is_not_created(scratch, no_heavy_work):
    """A record path in a folder that does not exist: `flops --json /nonexistent/dir/out.json`."""
    target = Path("/nonexistent-fcdmbench-h15/dir/out.json")
    assert not target.parents[1].exists()
    result = CliRunner().invoke(app, ["flops", "-m", "fcdm-s", "--json", str(target)])
    _assert_error_format(result.stderr, 3, result.exit_code)
    assert not target.parents[1].exists()


def test_several_problems_are_one_error_with_the_lowest_exit_code(scratch, no_heavy_work):
    _root, cwd, outside, env = scratch
    FILES["rgba.npz"](cwd / "rgba.npz")
    result = CliRunner().invoke(
        app,
        ["eval", "rgba.npz", "--num", "8", "--ref", "imagenet9", "--json", f"{outside}/x/r.json"],
        env=env,
    )
    _assert_error_format(result.stderr, 2, result.exit_code)  # 2 (--ref) beats 3 (files)
    assert result.stderr.count("error:") == 1
    for fault in ("4 channels", "unknown reference 'imagenet9'", "does not exist"):
        assert fault in result.stderr


def test_debug_keeps_the_traceback(scratch):
    from fcdmbench.errors import InputError
    from fcdmbench.preflight import PreflightError

    _root, cwd, _outside, env = scratch
    FILES["adir.npz"](cwd / "adir.npz")
    result = CliRunner().invoke(app, ["--debug", "eval", "adir.npz"], env=env)
    assert isinstance(result.exception, PreflightError)  # re-raised, not printed
    assert isinstance(result.exception.problems[0], InputError)
    single = CliRunner().invoke(app, ["--debug", "flops", "-m", "fcdm-q"], env=env)
    assert type(single.exception).__name__ == "UnknownModelError"


def test_nothing_is_created_under_the_current_directory_either(scratch, no_heavy_work):
    """Folders under the cwd may be created for outputs, but only once the command runs: a
    command refused in its preflight leaves no empty folder behind."""
    root, _cwd, _outside, env = scratch
    before = _tree(root)
    result = CliRunner().invoke(
        app, ["flops", "-m", "fcdm-q", "--json", "new/dir/out.json"], env=env
    )
    assert result.exit_code == 2
    assert _tree(root) == before


def test_a_3_block_run_is_refused_as_a_baseline(scratch, one_thread):
    """Feed a real (tiny, 3-block) throughput record into `baseline update`."""
    root, cwd, _outside, env = scratch
    tiny = ["--batch", "1", "--device", "cpu", "--fcdm-checkpointing", "off"]
    tiny += ["--warmup-calls", "1", "--warmup-s", "0", "--blocks", "3", "--min-block-s", "0"]
    tiny += ["--pause-s", "0", "--ref", "none", "--out", "run.json"]
    made = CliRunner().invoke(app, ["throughput", "-m", "fcdm-s", *tiny], env=env)
    assert made.exit_code == 0, made.output
    assert "plan: 2 items" in made.stderr and "canary" in made.stderr  # printed before the run
    before = _tree(root)
    result = CliRunner().invoke(
        app, ["baseline", "update", "run.json", "--baselines-dir", "b"], env=env
    )
    _assert_error_format(result.stderr, 5, result.exit_code)
    assert "fewer than 5 timed blocks" in result.stderr
    assert _tree(root) == before
    forced = CliRunner().invoke(
        app, ["baseline", "update", "run.json", "--baselines-dir", "b", "--force"], env=env
    )
    assert forced.exit_code == 0, forced.output
    (stored,) = (cwd / "b").rglob("*.json")
    assert json.loads(stored.read_text())["baseline"]["forced"] is True


def test_baseline_update_writes_under_the_current_checkout(scratch):
    """Run from a checkout (a folder with .git): its benchmarks/baselines, not the installed
    source's."""
    import copy

    _root, cwd, _outside, env = scratch
    (cwd / ".git").mkdir()
    (cwd / "sub").mkdir()
    record = json.loads(RECORDED.read_text())
    quiet = copy.deepcopy(record)
    for item in (quiet["canary"], *quiet["results"]):
        item["block_s"] = [sorted(item["block_s"])[2]] * 5
    (cwd / "sub" / "quiet.json").write_text(json.dumps(quiet))
    os.chdir(cwd / "sub")
    result = CliRunner().invoke(app, ["baseline", "update", "quiet.json"], env=env)
    assert result.exit_code == 0, result.output
    (stored,) = (cwd / "benchmarks" / "baselines").rglob("*.json")
    assert stored.parent.name == record["env"]["device_slug"]


def test_sample_missing_ckpt_fails_before_torch_is_imported(tmp_path):
    """The real process: `sample --ckpt missing.pt` must not pay for importing torch."""
    code = (
        "import sys\n"
        "from fcdmbench.cli.main import run\n"
        "sys.argv = ['fcdmbench', 'sample', 'fcdm-s', '--ckpt', 'missing.pt', '--num', '4',"
        " '--out', 'x.npz']\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, 'torch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "exit 3 False", proc.stdout + proc.stderr
    _assert_error_format(proc.stderr, 3, 3)
    assert list(tmp_path.iterdir()) == []


def test_console_script_formats_usage_errors(tmp_path):
    """The installed entry point (argv normalisation included), not only CliRunner."""
    exe = Path(sys.executable).with_name("fcdmbench")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "fcdmbench"]
    proc = subprocess.run(
        [*argv, "flops", "--models", "fcdm-s", "fcdm-b", "--resolution", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_error_format(proc.stderr, 2, proc.returncode)
    assert "--resolution" in proc.stderr
