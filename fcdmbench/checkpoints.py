"""Loading upstream checkpoints into fcdmbench models through explicit key maps."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError

__all__ = [
    "check_checkpoint_format",
    "load_checkpoint",
    "read_checkpoint",
    "rename_keys",
    "select_weights",
]

#: Keys under which training scripts store weights, most preferred first (EMA wins).
WEIGHT_KEYS = ("ema", "model_ema", "state_dict_ema", "model", "state_dict", "module")


def rename_keys(state_dict: Mapping[str, Any], rules: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Apply ``re.sub(pattern, replacement, key)`` rules in order to every key."""
    compiled = [(re.compile(p), r) for p, r in rules]
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        new = key
        for pattern, replacement in compiled:
            new = pattern.sub(replacement, new)
        if new in out:
            raise InputError(f"key map sends two checkpoint keys to {new!r}")
        out[new] = value
    return out


def select_weights(obj: Any) -> tuple[dict[str, Any], str]:
    """Pick the weights from a loaded checkpoint: EMA when present. Returns (state_dict, which)."""
    if isinstance(obj, Mapping):
        for key in WEIGHT_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                return dict(obj[key]), key
        if obj and all(hasattr(v, "shape") for v in obj.values()):
            return dict(obj), "raw state_dict"
    raise InputError(
        "checkpoint holds no state_dict (looked for a tensor mapping or keys "
        f"{', '.join(WEIGHT_KEYS)})"
    )


def strip_prefixes(state_dict: Mapping[str, Any], prefixes=("module.", "_orig_mod.")) -> dict:
    """Drop DDP / torch.compile prefixes."""
    out = {}
    for key, value in state_dict.items():
        for prefix in prefixes:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def check_checkpoint_format(path: str | Path) -> Path:
    """`path` must look like a file `torch.save` wrote: a zip archive (torch >= 1.6) or a pickle
    (older torch, first byte the pickle PROTO opcode). Reads a few bytes, imports no torch.

    Raises:
        InputError: anything else (a text file, an image, ...), named as not a checkpoint.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(2)
    if not (zipfile.is_zipfile(path) or (len(head) == 2 and head[0] == 0x80 and head[1] >= 2)):
        raise InputError(
            f"{path} is not a checkpoint: torch.save writes a zip archive (or, before torch 1.6, "
            "a pickle), and this file is neither",
            hint="pass the .pt file a training script saved (upstream's or fcdmbench's)",
        )
    return path


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load`` a checkpoint file on the CPU with ``weights_only=True``.

    Raises:
        InputError: the file is missing, is not a checkpoint, or cannot be unpickled as plain
            tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} not found", hint="check the --ckpt path")
    check_checkpoint_format(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
        raise InputError(
            f"{path} is not a readable checkpoint: {exc}",
            hint="pass the .pt file a training script saved (upstream's or fcdmbench's)",
        ) from exc


def load_checkpoint(
    model, spec, source: str | Path | Mapping[str, Any], assign: bool = False
) -> str:
    """Load an upstream (or fcdmbench) checkpoint into `model` with strict=True.

    Args:
        model: a model built from `spec`.
        spec: its `ModelSpec`; `spec.key_map` translates upstream key names.
        source: a path to a ``.pt`` file, or an already loaded object.
        assign: adopt the checkpoint's tensors instead of copying into the model's (lets a model
            built on the meta device skip initialisation; every tensor must then come from the
            checkpoint).

    Returns:
        Which weights were used (``"ema"``, ``"model"``, ``"raw state_dict"``).

    Raises:
        InputError: unreadable file, or keys/shapes that do not fit the model (the message names
            the missing, unexpected and mis-shaped keys).
    """
    from fcdmbench.registry import import_object

    obj = source if isinstance(source, Mapping) else read_checkpoint(source)
    state_dict, which = select_weights(obj)
    state_dict = strip_prefixes(state_dict)
    own = model.state_dict()
    if spec.key_map and not set(state_dict) <= set(own):
        state_dict = import_object(spec.key_map)(state_dict)
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                shown = ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8})" if len(keys) > 8 else "")
                parts.append(f"{label} {len(keys)}: {shown}")
        raise InputError(
            f"checkpoint does not fit {spec.name}: " + "; ".join(parts),
            hint="check the model name and --resolution match the checkpoint",
        )
    model.load_state_dict(state_dict, strict=True, assign=assign)
    left_on_meta = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left_on_meta:
        raise InputError(
            f"tensors not provided by the checkpoint stayed on meta: {left_on_meta[:8]}"
        )
    return which
