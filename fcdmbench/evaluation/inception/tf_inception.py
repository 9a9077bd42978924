"""ADM's Inception feature extractor: the official frozen TensorFlow graph, run as ADM runs it.

The graph is `classify_image_graph_def.pb` (manifest entry ``inception``). Images (uint8 NHWC,
any size) are cast to float32 and fed at ``ExpandDims:0``, in batches of 64; the graph resizes
them itself. Outputs, as in openai/guided-diffusion 22e0df8 `evaluations/evaluator.py`:

- ``pool_3:0``: ``(N, 2048)`` features for FID and precision/recall;
- ``mixed_6/conv:0``, first 7 channels: ``(N, 17*17*7 = 2023)`` spatial features for sFID;
- the 1008-way classifier: pool features times the weights feeding ``softmax/logits/MatMul``,
  then softmax, in TensorFlow float32 (batches of 512), for the Inception Score.

TensorFlow is imported lazily, only through `import_tensorflow` (this module and `distance.py`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.errors import InputError, require

__all__ = [
    "EXTRACTOR_VERSION",
    "BatchedExtraction",
    "INCEPTION_ENV",
    "InceptionExtractor",
    "import_tensorflow",
    "resolve_inception_path",
    "tensorflow_info",
]

EXTRACTOR_VERSION = "adm-inception/1"
INCEPTION_ENV = "FCDMBENCH_INCEPTION"
POOL_TENSOR = "pool_3:0"
SPATIAL_TENSOR = "mixed_6/conv:0"
LOGITS_OP = "softmax/logits/MatMul"
INPUT_TENSOR = "ExpandDims:0"
SPATIAL_CHANNELS = 7
SOFTMAX_BATCH_SIZE = 512


def import_tensorflow(purpose: str) -> Any:
    """Import TensorFlow for `purpose`, without its start-up logging.

    On import TensorFlow's C++ library writes about 8 lines to stderr (oneDNN, cpu_feature_guard,
    absl), before any Python setting or ``TF_CPP_MIN_LOG_LEVEL`` can stop all of them, so the
    stderr file descriptor points at /dev/null during the import, and ``TF_CPP_MIN_LOG_LEVEL``
    is 2 for later messages (warnings and errors still show). Where the user set
    ``TF_CPP_MIN_LOG_LEVEL`` (``fcdmbench --debug`` sets it to 0), nothing is hidden.

    Raises:
        MissingExtraError: TensorFlow is not installed (names the extra to install).
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return require("tensorflow", "eval-tf-cpu", purpose)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return require("tensorflow", "eval-tf-cpu", purpose)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tensorflow_info():
    """TensorFlow's version and the GPUs it sees, if this process imported it (else None)."""
    from fcdmbench.records.evaluation import TensorFlowInfo

    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    gpus = tuple(d.name for d in tf.config.list_physical_devices("GPU"))
    return TensorFlowInfo(tf.__version__, gpus)


def resolve_inception_path(
    path: str | Path | None = None,
    reference_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    *,
    verify: bool = True,
) -> Path:
    """The graph file: `path`, else ``$FCDMBENCH_INCEPTION``, else the reference folder.

    Args:
        verify: hash a manifest file against its sha256 (False: only check it is there, as a
            preflight does).

    Raises:
        ReferenceBatchError: not found (says where to place it), a directory, or sha256 mismatch.
    """
    from fcdmbench.errors import ReferenceBatchError

    explicit = path or os.environ.get(INCEPTION_ENV)
    if explicit:
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            fault = "is a directory" if explicit.is_dir() else "not found"
            raise ReferenceBatchError(
                f"Inception graph {explicit} {fault} (from --inception or ${INCEPTION_ENV})",
                hint="point --inception at classify_image_graph_def.pb, or run "
                "`fcdmbench reference fetch inception` and drop the option",
            )
        return explicit
    from fcdmbench.evaluation.reference import locate_reference, resolve_reference

    if not verify:
        return locate_reference("inception", reference_dir, cache_dir).path
    resolved, _ = resolve_reference("inception", reference_dir, cache_dir)
    return resolved


class BatchedExtraction:
    """`extract` over batches, for an extractor that defines `extract_batch` (both backends)."""

    def extract_batch(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def extract(
        self, batches: Iterable[np.ndarray], on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of every image in `batches` (each at most `batch_size` images)."""
        pools, spatials = [], []
        for batch in batches:
            pool, spatial = self.extract_batch(batch)
            pools.append(pool)
            spatials.append(spatial)
            if on_batch:
                on_batch(len(batch))
        return np.concatenate(pools), np.concatenate(spatials)


class InceptionExtractor(BatchedExtraction):
    """Runs the frozen graph in a TensorFlow session (GPU if TensorFlow sees one).

    Example:
        extractor = InceptionExtractor(resolve_inception_path())
        pool, spatial = extractor.extract(batches)
    """

    backend = "tensorflow"

    def __init__(self, graph_path: str | Path, batch_size: int = 64) -> None:
        from fcdmbench.files import file_sha256

        self.graph_path = Path(graph_path)
        self.batch_size = batch_size
        self.graph_sha256 = file_sha256(self.graph_path)
        self._tf = import_tensorflow("the ADM Inception graph")
        self._build()

    @property
    def device(self) -> str:
        """Where TensorFlow placed the graph: "cuda" if it sees a GPU (it uses one), else "cpu"."""
        return "cuda" if self._tf.config.list_physical_devices("GPU") else "cpu"

    @property
    def extractor_id(self) -> str:
        """Cache key part: extractor version, graph sha256 and batch size."""
        return f"{EXTRACTOR_VERSION}:{self.graph_sha256}:bs{self.batch_size}"

    def _build(self) -> None:
        tf = self._tf
        v1 = tf.compat.v1
        graph_def = v1.GraphDef()
        try:
            graph_def.ParseFromString(self.graph_path.read_bytes())
        except Exception as exc:  # protobuf's DecodeError has no stable import path
            raise InputError(
                f"{self.graph_path} is not a TensorFlow GraphDef ({exc})",
                hint="re-fetch it: fcdmbench reference fetch inception",
            ) from exc
        self._graph = tf.Graph()
        with self._graph.as_default():
            self._images = v1.placeholder(tf.float32, shape=[None, None, None, 3])
            try:
                pool, spatial, matmul = tf.import_graph_def(
                    graph_def,
                    input_map={INPUT_TENSOR: self._images},
                    return_elements=[POOL_TENSOR, SPATIAL_TENSOR, LOGITS_OP],
                    name="adm",
                )
            except (ValueError, KeyError) as exc:
                raise InputError(
                    f"{self.graph_path} lacks ADM's tensors ({exc})",
                    hint="use the official classify_image_graph_def.pb",
                ) from exc
            self._pool = pool
            self._spatial = spatial[..., :SPATIAL_CHANNELS]
            self._pool_in = v1.placeholder(tf.float32, shape=[None, 2048])
            self._probs = tf.nn.softmax(tf.matmul(self._pool_in, matmul.inputs[1]))
        config = v1.ConfigProto(allow_soft_placement=True)
        config.gpu_options.allow_growth = True
        self._session = v1.Session(graph=self._graph, config=config)

    def extract_batch(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, H, W, 3)`` uint8 -> pool ``(B, 2048)`` and spatial ``(B, 2023)`` float32."""
        pool, spatial = self._session.run(
            [self._pool, self._spatial], {self._images: images.astype(np.float32)}
        )
        return pool.reshape(len(pool), -1), spatial.reshape(len(spatial), -1)

    def pool_to_probs(self, pool: np.ndarray) -> np.ndarray:
        """1008-way softmax of pool features through the graph's classifier weights."""
        out = [
            self._session.run(self._probs, {self._pool_in: pool[i : i + SOFTMAX_BATCH_SIZE]})
            for i in range(0, len(pool), SOFTMAX_BATCH_SIZE)
        ]
        return np.concatenate(out)

    def close(self) -> None:
        self._session.close()
