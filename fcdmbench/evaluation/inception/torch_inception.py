"""ADM's Inception features without TensorFlow: the same graph file, run by a torch interpreter.

`TorchInceptionExtractor` has the public interface of `InceptionExtractor`
(`fcdmbench.evaluation.inception.tf_inception`) and reads the same ``classify_image_graph_def.pb``:
the file is parsed by `fcdmbench.evaluation.inception.graphdef` and executed by
`fcdmbench.evaluation.inception.torch_graph`, from ``ExpandDims:0`` (uint8 images cast to float32,
any size, batches of 64) to ``pool_3:0`` and ``mixed_6/conv:0``. The classifier is the second input
of ``softmax/logits/MatMul`` (no bias), then a float32 softmax in batches of 512, as ADM computes
it. TensorFlow is never imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fcdmbench.errors import DeviceError, InputError
from fcdmbench.evaluation.inception.graphdef import read_graph
from fcdmbench.evaluation.inception.tf_inception import (
    INPUT_TENSOR,
    LOGITS_OP,
    POOL_TENSOR,
    SOFTMAX_BATCH_SIZE,
    SPATIAL_CHANNELS,
    SPATIAL_TENSOR,
    BatchedExtraction,
)
from fcdmbench.evaluation.inception.torch_graph import GraphRunner

__all__ = ["TORCH_EXTRACTOR_VERSION", "TorchInceptionExtractor"]

TORCH_EXTRACTOR_VERSION = "adm-inception-torch/1"


def _strict_numerics(device: torch.device) -> None:
    """No TF32 and deterministic kernels on CUDA: float32 as TensorFlow computes it."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


class TorchInceptionExtractor(BatchedExtraction):
    """Runs ADM's frozen Inception graph in PyTorch (CPU or CUDA).

    Example:
        extractor = TorchInceptionExtractor(resolve_inception_path(), device="cpu")
        pool, spatial = extractor.extract(batches)
        probs = extractor.pool_to_probs(pool)

    `fold_batchnorm` (default) folds each batch norm into its convolution and fuses the ReLU:
    about twice as fast on CPU, and as close to TensorFlow as the unfolded path (both differ from
    it by TensorFlow's approximate rsqrt; docs/evaluation.md, "Torch backend: validation").
    False runs TensorFlow's operations one by one (a separate cache key).

    Raises:
        InputError: the file is not a GraphDef, is truncated, lacks ADM's tensors, or uses an
            op the interpreter does not implement.
        DeviceError: `device` is CUDA and no CUDA device exists.
    """

    backend = "torch"

    def __init__(
        self,
        graph_path: str | Path,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        *,
        fold_batchnorm: bool = True,
    ) -> None:
        from fcdmbench.files import file_sha256

        self.graph_path = Path(graph_path)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.fold_batchnorm = fold_batchnorm
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(
                f"device {device} requested but CUDA is not available", hint="use --device cpu"
            )
        _strict_numerics(self.device)
        self.graph_sha256 = file_sha256(self.graph_path)
        graph = read_graph(self.graph_path)
        nodes = graph.by_name()
        missing = [
            name
            for name in (INPUT_TENSOR, POOL_TENSOR, SPATIAL_TENSOR, LOGITS_OP)
            if name.partition(":")[0] not in nodes
        ]
        if missing:
            raise InputError(
                f"{self.graph_path} lacks ADM's tensors: {', '.join(missing)}",
                hint="use the official classify_image_graph_def.pb",
            )
        self._features = GraphRunner(
            graph,
            [POOL_TENSOR, SPATIAL_TENSOR],
            INPUT_TENSOR,
            device,
            fold_batchnorm=fold_batchnorm,
        )
        logits = nodes[LOGITS_OP]
        if logits.op != "MatMul" or len(logits.inputs) < 2:
            raise InputError(
                f"{self.graph_path}: {LOGITS_OP} is a {logits.op}, not a MatMul",
                hint="use the official classify_image_graph_def.pb",
            )
        (self._weights,) = GraphRunner(graph, [logits.inputs[1]], None, device)()

    @property
    def extractor_id(self) -> str:
        """Cache key part: extractor version (and batch-norm mode), graph sha256, batch size."""
        mode = "" if self.fold_batchnorm else "-bn-unfolded"
        return f"{TORCH_EXTRACTOR_VERSION}{mode}:{self.graph_sha256}:bs{self.batch_size}"

    def extract_batch(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, H, W, 3)`` uint8 -> pool ``(B, 2048)`` and spatial ``(B, 2023)`` float32."""
        fed = torch.from_numpy(images.astype(np.float32)).to(
            self.device
        )  # a copy: npz reads are read-only
        pool, spatial = self._features(fed)
        spatial = spatial[..., :SPATIAL_CHANNELS]
        return (
            pool.reshape(len(pool), -1).cpu().numpy(),
            spatial.reshape(len(spatial), -1).cpu().numpy(),
        )

    def pool_to_probs(self, pool: np.ndarray) -> np.ndarray:
        """1008-way softmax of pool features through the graph's classifier weights."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(pool), SOFTMAX_BATCH_SIZE):
                chunk = torch.from_numpy(np.ascontiguousarray(pool[i : i + SOFTMAX_BATCH_SIZE]))
                logits = chunk.to(self.device, torch.float32) @ self._weights
                out.append(torch.softmax(logits, dim=1).cpu().numpy())
        return np.concatenate(out)

    def close(self) -> None:
        """Release the weights (the interface of `InceptionExtractor`)."""
        self._features = None
        self._weights = None
