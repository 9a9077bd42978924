"""The one atomic writer and the output-path rule (fcdmbench/files.py)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from fcdmbench.errors import InputError
from fcdmbench.files import (
    atomic_output,
    file_sha256,
    prepare_output,
    write_json_atomic,
    write_text_atomic,
)


def test_written_file_has_umask_permissions_not_0600(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_missing_parent_outside_cwd_is_an_error_and_creates_nothing(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    target = tmp_path / "elsewhere" / "deep" / "out.json"
    with pytest.raises(InputError, match="does not exist") as info:
        write_json_atomic(target, {"a": 1})
    assert "mkdir -p" in info.value.hint
    assert not (tmp_path / "elsewhere").exists()


def test_missing_parent_under_cwd_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_json_atomic("reports/x/out.json", {"a": 1})
    assert (tmp_path / "reports" / "x" / "out.json").read_text().startswith("{")
    assert path.name == "out.json"


def test_make_parents_creates_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path.parent / f"{tmp_path.name}-other" / "sub" / "f.txt"
    try:
        write_text_atomic(other, "y", make_parents=True)
        assert other.read_text() == "y"
    finally:
        import shutil

        shutil.rmtree(other.parent.parent, ignore_errors=True)


def test_directory_as_output_is_an_error(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        prepare_output(tmp_path)


def test_exception_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "fig.png"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    write_json_atomic(target, {"nan": float("nan")})
    assert target.read_text() == '{\n  "nan": null\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_file_sha256_matches_hashlib(tmp_path):
    data = os.urandom(5_000_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
