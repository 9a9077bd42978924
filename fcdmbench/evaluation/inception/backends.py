"""Which engine runs ADM's Inception graph: `InceptionBackend`, and `open_extractor` to build one.

Both backends execute the same file, ``classify_image_graph_def.pb``, and give the same outputs
(pool features, the first 7 channels of ``mixed_6/conv``, and the classifier's probabilities):

- ``torch`` (default): fcdmbench's own interpreter of the frozen graph
  (`fcdmbench.evaluation.inception.torch_graph`), on CPU or CUDA, with no TensorFlow installed;
- ``tensorflow``: the graph imported into a TensorFlow session, as ADM's evaluator runs it (the
  reference the torch backend is validated against; needs the ``eval-tf`` extra).

Activations are cached per backend: each extractor's `extractor_id` names it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the CLI imports this module for its enums: keep numpy out of start-up
    import numpy as np

    from fcdmbench.records.evaluation import InceptionGraph

__all__ = ["EvalDevice", "Extractor", "InceptionBackend", "graph_record", "open_extractor"]


class InceptionBackend(enum.Enum):
    """The engine that runs the Inception graph."""

    TORCH = "torch"
    TENSORFLOW = "tensorflow"


class EvalDevice(enum.Enum):
    """Where the torch backend runs (TensorFlow places its graph itself)."""

    CPU = "cpu"
    CUDA = "cuda"


class Extractor(Protocol):
    """What `evaluate` needs of an Inception extractor, whichever backend runs it."""

    graph_path: Path
    graph_sha256: str
    batch_size: int
    backend: str  # an `InceptionBackend` value
    device: Any  # where it runs: "cpu", "cuda", a torch.device

    @property
    def extractor_id(self) -> str: ...

    def extract(
        self, batches: Iterable[np.ndarray], on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def pool_to_probs(self, pool: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def open_extractor(
    backend: InceptionBackend,
    graph_path: str | Path,
    *,
    batch_size: int = 64,
    device: EvalDevice = EvalDevice.CPU,
) -> Extractor:
    """An extractor of `backend` for the graph at `graph_path` (`device`: torch backend only).

    Raises:
        InputError: the file is not a GraphDef, or lacks ADM's tensors or an op the torch
            interpreter implements (named).
        MissingExtraError: ``tensorflow`` without TensorFlow installed.
        DeviceError: ``cuda`` without CUDA.
    """
    if backend is InceptionBackend.TENSORFLOW:
        from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor

        return InceptionExtractor(graph_path, batch_size=batch_size)
    from fcdmbench.evaluation.inception.torch_inception import TorchInceptionExtractor

    return TorchInceptionExtractor(graph_path, batch_size=batch_size, device=device.value)


def graph_record(extractor: Extractor) -> InceptionGraph:
    """What the record says of the graph and the engine that ran it."""
    from fcdmbench.records.evaluation import InceptionGraph

    return InceptionGraph(
        str(extractor.graph_path),
        extractor.graph_sha256,
        extractor.extractor_id,
        extractor.batch_size,
        backend=extractor.backend,
        device=str(extractor.device),
    )
