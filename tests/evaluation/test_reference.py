"""`fcdmbench reference fetch|verify` on a temporary manifest with file:// URLs (no network)."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.evaluation.reference import load_manifest


def _setup(tmp_path, sha256):
    source = tmp_path / "upstream.pb"
    source.write_bytes(b"graph bytes")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        f'[inception]\nfilename = "g.pb"\nurl = "{source.as_uri()}"\nsha256 = "{sha256}"\n'
        'size = 11\nstatus = "verified"\nsource = "test"\nkind = "graph"\n'
        f'[gone]\nfilename = "x.npz"\nurl = "{(tmp_path / "nope").as_uri()}"\nsha256 = ""\n'
        'size = 0\nstatus = "unverified"\nsource = "test"\nkind = "reference_batch"\n'
    )
    env = {"FCDMBENCH_MANIFEST": str(manifest), "FCDMBENCH_REFERENCE_DIR": str(tmp_path / "ref")}
    return env


def test_repo_manifest_lists_official_files_without_invented_hashes():
    manifest = load_manifest()
    assert {"inception", "imagenet256", "imagenet512"} <= manifest.keys()
    official = {  # ADM's files; FD-DINOv2's network (issue 32) from Meta's download server
        "graph": "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/",
        "reference_batch": "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/",
        "weights": "https://dl.fbaipublicfiles.com/dinov2/",
    }
    for entry in manifest.values():
        assert entry.url.startswith(official[entry.kind])
        assert entry.status in {"verified", "unverified"}
        assert bool(entry.sha256) == (entry.status == "verified")


def test_fetch_verifies_sha256(tmp_path):
    env = _setup(tmp_path, hashlib.sha256(b"graph bytes").hexdigest())
    result = CliRunner().invoke(app, ["reference", "fetch", "inception"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ref" / "g.pb").read_bytes() == b"graph bytes"
    result = CliRunner().invoke(app, ["reference", "verify", "inception"], env=env)
    assert result.exit_code == 0 and "ok" in result.output


def test_sha256_mismatch_fails(tmp_path):
    env = _setup(tmp_path, "0" * 64)
    result = CliRunner().invoke(app, ["reference", "fetch", "inception"], env=env)
    assert result.exit_code == 3 and "sha256" in result.output
    result = CliRunner().invoke(app, ["reference", "verify"], env=env)
    assert result.exit_code == 5 and "mismatch" in result.output


def test_offline_fetch_says_where_to_place_the_file(tmp_path):
    env = _setup(tmp_path, "")
    result = CliRunner().invoke(app, ["reference", "fetch", "gone"], env=env)
    assert result.exit_code == 3
    assert "place it at" in result.output and "x.npz" in result.output


def test_eval_with_missing_reference_names_file_and_place(tmp_path):
    import numpy as np

    env = _setup(tmp_path, "")
    np.savez(tmp_path / "s.npz", arr_0=np.zeros((4, 8, 8, 3), np.uint8))
    result = CliRunner().invoke(
        app, ["eval", str(tmp_path / "s.npz"), "--ref", "gone", "--num", "4"], env=env
    )
    assert result.exit_code == 3
    assert "fcdmbench reference fetch gone" in result.output and "x.npz" in result.output
