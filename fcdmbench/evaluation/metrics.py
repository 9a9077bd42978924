"""FID, sFID, Inception Score, precision and recall as ADM defines them (pure, no IO).

Reference: openai/guided-diffusion 22e0df8, `evaluations/evaluator.py` (reimplemented, not
copied). Conventions that move the numbers and are kept here:

- Fréchet distance in ADM's argument order, ``d(sample, reference)``: the matrix square root is
  taken of ``sigma_sample @ sigma_ref``, so swapping the arguments changes the last digits (and
  more when the product is near singular). If that square root is not finite, ``eps = 1e-6`` is
  added to both diagonals and it is recomputed; a small imaginary part is dropped, a large one
  (diagonal not within 1e-3 of real) is an error.
- Inception Score over splits of 5,000 in file order, mean of the per-split exponentials.
- Precision/recall with k = 3 (the 4th smallest distance, self included), row and column blocks
  of 10,000, distances from `fcdmbench.evaluation.distance` (ADM's float16 block, reproduced in
  torch, by default).
"""

from __future__ import annotations

import enum
import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fcdmbench.errors import CheckFailedError, InputError
from fcdmbench.evaluation.distance import DistanceBackend, DistanceFn, get_distance_fn
from fcdmbench.evaluation.statistics import FIDStats

__all__ = [
    "ADM_BLOCK_SIZE",
    "PrecisionRecall",
    "SqrtmMethod",
    "compute_manifold_radii",
    "frechet_distance",
    "logits_to_inception_score",
    "precision_recall",
    "probs_to_inception_score",
]

ADM_BLOCK_SIZE = 10_000
ADM_FID_EPS = 1e-6

#: ``(done, total)`` progress callback.
ProgressFn = Callable[[int, int], None]


class SqrtmMethod(enum.Enum):
    """How the trace of ``sqrtm(sigma1 @ sigma2)`` is computed.

    ``adm``: `scipy.linalg.sqrtm` with ADM's eps fallback: bit-identical to ADM, slow (a Schur
    decomposition of a 2048-d non-symmetric matrix). ``eigh``: the same trace from symmetric
    eigensolvers, ``tr sqrt(S R) = sum sqrt(eig(R^1/2 S R^1/2))`` with ``R^1/2`` of the reference
    cached by content; tens of times faster, agrees with ``adm`` to about 1e-10 relative on
    full-rank statistics (tests/evaluation/test_metrics.py, docs/evaluation.md), and differs
    where ADM's eps fallback fires (singular products), so it is never called ADM-exact.
    """

    ADM = "adm"
    EIGH = "eigh"


def frechet_distance(
    sample: FIDStats,
    ref: FIDStats,
    *,
    method: SqrtmMethod = SqrtmMethod.ADM,
    eps: float = ADM_FID_EPS,
) -> float:
    """Fréchet distance between sample and reference statistics, in ADM's argument order.

    Raises:
        InputError: the two statistics have different dimensions.
        CheckFailedError: the square root has a large imaginary part (ADM raises too).

    Example:
        fid = frechet_distance(features_to_stats(sample_pool), ref_pool_stats)
    """
    if sample.mu.shape != ref.mu.shape or sample.sigma.shape != ref.sigma.shape:
        raise InputError(
            f"statistics differ in dimension: sample {sample.mu.shape}, reference {ref.mu.shape}",
            hint="compare pool features with pool statistics and spatial with spatial",
        )
    diff = sample.mu - ref.mu
    if method is SqrtmMethod.EIGH:
        tr_covmean = _trace_sqrt_product_eigh(sample.sigma, ref.sigma)
    else:
        tr_covmean = _trace_sqrt_product_adm(sample.sigma, ref.sigma, eps)
    return float(diff.dot(diff) + np.trace(sample.sigma) + np.trace(ref.sigma) - 2 * tr_covmean)


def _trace_sqrt_product_adm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        # ADM passes disp=False only to receive an error estimate it discards; the square root is
        # the same without it (SciPy deprecates `disp`), and the estimate's extra product is saved.
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            warnings.warn(
                f"FID: sqrtm of a singular product; adding {eps} to both covariance diagonals "
                "(ADM's fallback)",
                RuntimeWarning,
                stacklevel=3,
            )
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise CheckFailedError(
                f"FID: sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}",
                hint="the covariances are degenerate; evaluate more samples",
            )
        covmean = covmean.real
    return np.trace(covmean)


def _trace_sqrt_product_eigh(sigma_sample: np.ndarray, sigma_ref: np.ndarray) -> float:
    # tr sqrt(S R) = sum sqrt(eig(R^1/2 S R^1/2)): one cached eigendecomposition of the
    # reference (shared by every evaluation against it) and one eigenvalues-only solve.
    from scipy import linalg

    root_ref = _symmetric_sqrt(sigma_ref)
    inner = root_ref @ sigma_sample @ root_ref
    eig = linalg.eigvalsh((inner + inner.T) / 2, driver="evr")
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


_ROOT_CACHE: dict[str, np.ndarray] = {}


def _symmetric_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric PSD matrix, cached by content (few references)."""

    from scipy import linalg

    sigma = np.ascontiguousarray(sigma, dtype=np.float64)
    key = hashlib.sha256(sigma.tobytes()).hexdigest()
    root = _ROOT_CACHE.get(key)
    if root is None:
        vals, vecs = linalg.eigh(sigma, driver="evr")
        root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
        if len(_ROOT_CACHE) >= 4:
            _ROOT_CACHE.pop(next(iter(_ROOT_CACHE)))
        _ROOT_CACHE[key] = root
    return root


def probs_to_inception_score(probs: np.ndarray, split_size: int = 5000) -> float:
    """Inception Score from ``(N, C)`` class probabilities, ADM's split rule (file order)."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) == 0:
        raise InputError(f"probabilities must be (N, C), got {probs.shape}")
    scores = []
    for start in range(0, len(probs), split_size):
        part = probs[start : start + split_size]
        marginal = np.expand_dims(np.mean(part, 0), 0)
        kl = np.mean(np.sum(part * (np.log(part) - np.log(marginal)), 1))
        scores.append(np.exp(kl))
    return float(np.mean(scores))


def logits_to_inception_score(logits_1008: np.ndarray, split_size: int = 5000) -> float:
    """Inception Score from the graph's 1008-way logits (softmax in float32, then ADM's splits).

    The softmax runs in numpy float32; ADM runs it in TensorFlow, so the score agrees to about
    1e-6 relative, not bit for bit (tolerance in tests/evaluation/test_metrics.py).

    Example:
        score = logits_to_inception_score(pool_features @ softmax_weights)
    """
    logits = np.asarray(logits_1008, dtype=np.float32)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return probs_to_inception_score(exp / exp.sum(axis=1, keepdims=True), split_size)


def compute_manifold_radii(
    features: np.ndarray,
    distance_fn: DistanceFn,
    *,
    k: int = 3,
    row_batch_size: int = ADM_BLOCK_SIZE,
    col_batch_size: int = ADM_BLOCK_SIZE,
    on_progress: ProgressFn | None = None,
) -> np.ndarray:
    """Distance to each vector's k-th nearest neighbour (self counted at distance 0), ``(N,)``.

    Same values as ADM's ``manifold_radii``, which partitions whole ``(10,000, N)`` row blocks:
    here each distance block is reduced to its ``k + 1`` smallest values per row as it arrives
    (`torch.topk`: values selected, never recomputed) and merged into a running ``(N, k + 1)``
    table, so no more than two blocks are held at once. With square blocks and a kernel that has
    ``pair`` (the ``adm`` kernel), blocks ``(i, j)`` and ``(j, i)`` are computed together, which
    lets the kernel share one product between them where that is exact.
    """
    import torch

    num = len(features)
    if num <= k:
        raise InputError(f"manifold radii with k={k} need more than {k} vectors, got {num}")
    smallest = torch.full((num, k + 1), torch.inf)
    pair = getattr(distance_fn, "pair", None) if row_batch_size == col_batch_size else None
    done = [0]

    def absorb(block: np.ndarray, begin: int) -> None:
        rows = slice(begin, begin + block.shape[0])
        part = _smallest(torch.from_numpy(block), k + 1)
        smallest[rows] = _smallest(torch.cat([smallest[rows], part], 1), k + 1)
        done[0] += block.size
        if on_progress:
            on_progress(done[0], num * num)

    row_blocks = _prepared_blocks(features, row_batch_size, distance_fn)
    col_blocks = (
        row_blocks
        if col_batch_size == row_batch_size
        else _prepared_blocks(features, col_batch_size, distance_fn)
    )
    for begin1 in range(0, num, row_batch_size):
        rows = row_blocks[begin1]
        for begin2 in range(begin1 if pair else 0, num, col_batch_size):
            cols = col_blocks[begin2]
            if pair is not None and begin2 != begin1:
                block, mirror = pair(rows, cols)
                absorb(block, begin1)
                absorb(mirror, begin2)
                del mirror
            else:
                block = distance_fn(rows, cols)
                absorb(block, begin1)
            del block
    return smallest.max(dim=1).values.numpy()


def _prepared_blocks(features: np.ndarray, size: int, distance_fn: DistanceFn) -> dict:
    """``{begin: block}`` of `features`, each block prepared once by the kernel if it can.

    The ``adm`` kernel's `prepare` casts a block to float16 and computes its norms; passing the
    prepared block to every call that uses it saves redoing that per distance block.
    """
    prepare = getattr(distance_fn, "prepare", None)
    blocks = {b: features[b : b + size] for b in range(0, len(features), size)}
    return {b: prepare(x) for b, x in blocks.items()} if prepare else blocks


def _smallest(block, m: int):
    """The ``min(m, cols)`` smallest values of each row, as float32 (exact for float16 input)."""
    m = min(m, block.shape[1])
    return block.topk(m, dim=1, largest=False, sorted=False).values.float()


def _same_dtype(block, radii):
    """`radii` in `block`'s dtype if that is exact (float16 radii from float16 blocks), else None.

    ADM compares in float32; comparing float16 with float16 values gives the same answers and
    is about twice as fast as casting the block.
    """
    import torch

    if radii.dtype == block.dtype:
        return radii
    cast = radii.to(block.dtype)
    return cast if torch.equal(cast.to(radii.dtype), radii) else None


@dataclass(frozen=True, slots=True, eq=False)
class PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with ADM's estimator."""

    precision: float
    recall: float
    num_ref: int
    num_sample: int
    k: int
    ref_radii: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.float32))
    sample_radii: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.float32))

    def to_record(self) -> dict:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "num_ref": self.num_ref,
            "num_sample": self.num_sample,
            "k": self.k,
        }


def precision_recall(
    ref_features: np.ndarray,
    sample_features: np.ndarray,
    k: int = 3,
    *,
    distance_fn: DistanceFn | None = None,
    row_batch_size: int = ADM_BLOCK_SIZE,
    col_batch_size: int = ADM_BLOCK_SIZE,
    on_progress: ProgressFn | None = None,
) -> PrecisionRecall:
    """Precision (samples inside the reference manifold) and recall (the reverse), as ADM.

    Args:
        ref_features: ``(N_ref, D)`` reference pool_3 features.
        sample_features: ``(N_sample, D)`` sample pool_3 features.
        k: neighbourhood size (ADM: 3).
        distance_fn: distance kernel; default ``adm``, ADM's float16 block in torch (exact).
        row_batch_size: block rows (ADM: 10,000); the float16 fallback is decided per block.
        col_batch_size: block columns (ADM: 10,000).
        on_progress: called with (done, total) distance entries.

    Example:
        pr = precision_recall(ref_pool, sample_pool)
    """
    import torch

    if distance_fn is None:
        distance_fn = get_distance_fn(DistanceBackend.ADM)
    ref = np.asarray(ref_features, dtype=np.float32)
    smp = np.asarray(sample_features, dtype=np.float32)
    if ref.ndim != 2 or smp.ndim != 2 or ref.shape[1] != smp.shape[1]:
        raise InputError(f"feature shapes do not match: ref {ref.shape}, sample {smp.shape}")
    if min(len(ref), len(smp)) <= k:
        raise InputError(f"precision/recall with k={k} needs more than {k} vectors per set")
    n_ref, n_smp = len(ref), len(smp)
    total = n_ref * n_ref + n_smp * n_smp + n_ref * n_smp
    base = [0]

    def stage(done: int, _total: int) -> None:
        if on_progress:
            on_progress(base[0] + done, total)

    blocks = dict(row_batch_size=row_batch_size, col_batch_size=col_batch_size)
    radii_ref = compute_manifold_radii(ref, distance_fn, k=k, on_progress=stage, **blocks)
    base[0] = n_ref * n_ref
    radii_smp = compute_manifold_radii(smp, distance_fn, k=k, on_progress=stage, **blocks)
    base[0] += n_smp * n_smp
    # ADM's `evaluate_pr`: one reference x sample block serves both comparisons, in float32.
    r_ref, r_smp = torch.from_numpy(radii_ref), torch.from_numpy(radii_smp)
    ref_in = torch.zeros(n_ref, dtype=torch.bool)
    smp_in = torch.zeros(n_smp, dtype=torch.bool)
    smp_blocks = _prepared_blocks(smp, col_batch_size, distance_fn)
    for begin1 in range(0, n_ref, row_batch_size):
        end1 = begin1 + row_batch_size
        ref_block = _prepared_blocks(ref[begin1:end1], row_batch_size, distance_fn)[0]
        for begin2 in range(0, n_smp, col_batch_size):
            end2 = begin2 + col_batch_size
            dist = torch.from_numpy(distance_fn(ref_block, smp_blocks[begin2]))
            rs, rr = _same_dtype(dist, r_smp[begin2:end2]), _same_dtype(dist, r_ref[begin1:end1])
            if rs is None or rr is None:
                dist, rs, rr = dist.float(), r_smp[begin2:end2], r_ref[begin1:end1]
            ref_in[begin1:end1] |= (dist <= rs[None, :]).any(dim=1)
            smp_in[begin2:end2] |= (dist <= rr[:, None]).any(dim=0)
            stage(min(end1, n_ref) * n_smp - (n_smp - min(end2, n_smp)) * dist.shape[0], total)
            del dist
    return PrecisionRecall(
        precision=float(np.mean(smp_in.numpy().astype(np.float64))),
        recall=float(np.mean(ref_in.numpy().astype(np.float64))),
        num_ref=n_ref,
        num_sample=n_smp,
        k=k,
        ref_radii=radii_ref,
        sample_radii=radii_smp,
    )
