"""Timing of the fused kernels against the NumPy reference (used by ``fusedloss bench``).

Every case computes the loss *and* its gradient (``return_grad=True``, ``reduction="mean"``).
The baseline is :mod:`fusedloss._reference` called on the same input arrays: the NumPy code
you would write by hand (it works in float64).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from . import _losses, _reference

#: The shapes benchmarked for each loss: (rows, classes) for the classification losses,
#: the number of elements (1-d) for mean squared error.
SHAPES: Dict[str, List[Tuple[int, ...]]] = {
    "softmax_cross_entropy": [(65536, 10), (4096, 1000), (256, 32000), (32, 128000)],
    "multiclass_hinge": [(65536, 10), (4096, 1000), (256, 32000), (32, 128000)],
    "mean_squared_error": [(100_000,), (1_000_000,), (10_000_000,)],
}
LOSSES: Tuple[str, ...] = tuple(SHAPES)


def make_inputs(loss: str, shape: Tuple[int, ...], dtype: Any = np.float32, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic inputs for one case: ``(x, labels_or_target)``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if loss == "mean_squared_error":
        pred = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        target = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        return pred, target
    rows, classes = shape
    x: np.ndarray = rng.standard_normal(shape, dtype=np.float32)
    if loss == "multiclass_hinge":
        # Quantized scores: every margin difference is exact in float32 and float64, so the
        # (discontinuous) hinge derivative is the same in both and the check stays exact.
        x = np.round(x * 64.0) / np.float32(64.0)
    labels = rng.integers(0, classes, size=rows, dtype=np.int64)
    return x.astype(dtype), labels


def fused_call(loss: str, x: np.ndarray, y: np.ndarray, threads: Optional[int] = None) -> Tuple[Any, np.ndarray]:
    """The fused loss and gradient (``return_grad=True``, ``reduction="mean"``)."""
    fn = getattr(_losses, loss)
    result: Tuple[Any, np.ndarray] = fn(x, y, reduction="mean", return_grad=True, threads=threads)
    return result


def reference_call(loss: str, x: np.ndarray, y: np.ndarray) -> Tuple[Any, np.ndarray]:
    """The NumPy reference loss and gradient (float64)."""
    fn = getattr(_reference, loss)
    result: Tuple[Any, np.ndarray] = fn(x, y, reduction="mean", return_grad=True)
    return result


def check_result(loss: str, fused: Tuple[Any, np.ndarray], reference: Tuple[Any, np.ndarray], dtype: Any) -> None:
    """Raise ``AssertionError`` if the fused result differs from the reference beyond
    the tolerance of ``dtype`` (gradients are compared relative to their largest entry)."""
    dtype = np.dtype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    value, grad = fused
    ref_value, ref_grad = reference
    if np.asarray(grad).dtype != dtype:
        raise AssertionError(f"{loss}: gradient dtype {np.asarray(grad).dtype}, expected {dtype}")
    if np.asarray(grad).shape != np.shape(ref_grad):
        raise AssertionError(f"{loss}: gradient shape {np.shape(grad)}, expected {np.shape(ref_grad)}")
    if not np.allclose(float(value), float(ref_value), rtol=rtol, atol=rtol * 1e-3):
        raise AssertionError(f"{loss}: loss {float(value)!r} != reference {float(ref_value)!r}")
    scale = float(np.max(np.abs(ref_grad))) if np.size(ref_grad) else 0.0
    if not np.allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale + 1e-30):
        err = float(np.max(np.abs(np.asarray(grad, dtype=np.float64) - ref_grad)))
        raise AssertionError(f"{loss}: gradient differs from the reference (max abs error {err:.3g}, scale {scale:.3g})")


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_benchmarks(
    losses: Optional[Iterable[str]] = None,
    dtype: Any = np.float32,
    repeats: int = 5,
    numpy_repeats: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> List[Dict[str, Any]]:
    """Time fused loss+gradient against the NumPy reference for every case of ``losses``
    (default: all). Returns one row per case: ``loss, shape, dtype, numpy_ms, fusedloss_ms,
    speedup``. Raises ``AssertionError`` if a fused result is wrong.

    ``numpy_repeats`` (default ``min(repeats, 3)``) bounds the slow reference's runs.
    """
    names: Sequence[str] = list(losses) if losses else list(LOSSES)
    for name in names:
        if name not in SHAPES:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    dtype = np.dtype(dtype)
    if numpy_repeats is None:
        numpy_repeats = min(repeats, 3)
    rows: List[Dict[str, Any]] = []
    for name in names:
        for shape in SHAPES[name]:
            if progress is not None:
                progress(f"{name} {shape} {dtype.name} ...")
            x, y = make_inputs(name, shape, dtype)
            reference = reference_call(name, x, y)
            check_result(name, fused_call(name, x, y, threads), reference, dtype)
            del reference
            numpy_s = best_time(lambda: reference_call(name, x, y), numpy_repeats)
            fused_s = best_time(lambda: fused_call(name, x, y, threads), repeats)
            rows.append(
                {
                    "loss": name,
                    "shape": shape,
                    "dtype": dtype.name,
                    "numpy_ms": numpy_s * 1e3,
                    "fusedloss_ms": fused_s * 1e3,
                    "speedup": numpy_s / fused_s if fused_s > 0 else float("inf"),
                }
            )
    return rows


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    header = ["loss", "shape", "dtype", "NumPy ms", "fusedloss ms", "speedup"]
    body = [
        [
            r["loss"],
            "x".join(str(n) for n in r["shape"]),
            r["dtype"],
            f"{r['numpy_ms']:.3f}",
            f"{r['fusedloss_ms']:.3f}",
            f"{r['speedup']:.1f}x",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    left = {0, 1, 2}

    def fmt(line: List[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out += [fmt(line) for line in body]
    return "\n".join(out)
