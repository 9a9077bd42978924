"""`--ckpt` files: what torch.save writes is accepted; anything else is not a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fcdmbench.checkpoints import check_checkpoint_format, read_checkpoint
from fcdmbench.errors import InputError


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy-pickle"])
def test_what_torch_save_writes_passes_and_reads_back(tmp_path, zip_format):
    path = tmp_path / "ckpt.pt"
    weights = {"ema": {"w": torch.arange(6.0).reshape(2, 3)}}
    torch.save(weights, path, _use_new_zipfile_serialization=zip_format)
    assert check_checkpoint_format(path) == path
    assert torch.equal(read_checkpoint(path)["ema"]["w"], weights["ema"]["w"])


@pytest.mark.parametrize(
    "content", [b"root:x:0:0:root:/root:/bin/bash\n", b"\x89PNG\r\n\x1a\n", b"\x80"]
)
def test_other_files_are_not_checkpoints(tmp_path, content):
    path = tmp_path / "passwd"
    path.write_bytes(content)
    for check in (check_checkpoint_format, read_checkpoint):
        with pytest.raises(InputError, match="is not a checkpoint"):
            check(path)


def test_a_zip_that_torch_cannot_load_says_so(tmp_path):
    path = tmp_path / "samples.npz"  # a zip archive, but not one torch.save wrote
    np.savez(path, arr_0=np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="is not a readable checkpoint"):
        read_checkpoint(path)
