"""``linear_cross_entropy``: a linear layer and softmax cross-entropy fused, without ever holding
the ``(N, V)`` logits (design, measurements and the BLAS choice: docs/linear_cross_entropy.md).

Token rows are taken in chunks whose logits fit a buffer of at most 1/16 of the full logits'
bytes (and at most 32 MiB). For each chunk, in a fixed order:

1. ``buffer = x_chunk @ W.T (+ b)`` (NumPy's BLAS, ``np.matmul(out=)``),
2. the fused softmax-CE kernel turns ``buffer`` into the chunk's gradient in place (reduction
   ``"sum"``/``"none"``; ``"mean"``'s global denominator is known beforehand from the labels and
   weights, so the chunk gradient is scaled by it before it is used),
3. ``d_input[chunk] = G @ W`` and ``d_W += G.T @ x_chunk`` (cblas ``gemm`` with ``beta = 1``
   from the BLAS NumPy links, see _blas.py), ``d_b += G.sum(0)``.

The chunk boundaries depend on the shapes only, never on the thread count; ``d_W`` and ``d_b``
are summed over chunks in chunk order, and the loss's float64 partial sums too. NumPy's OpenBLAS
splits a GEMM's work differently with its thread count (measured: ``G @ W`` changes in the last
bits between 1 and 2 BLAS threads), so the BLAS runs single-threaded inside the call and the
call parallelises itself over fixed blocks of each GEMM's output (vocabulary blocks, feature
blocks): bitwise identical results for any ``threads`` (tested: 1, 2, None).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np

from . import _backend, _blas, _reference
from . import _validation as check
from .typing import ArrayLike, FloatArray, IntArray, Loss, Reduction, Scalar

# A chunk's logits buffer: at most 1/16 of the full logits and at most 32 MiB; at least 1 MiB
# (tiny problems) and at least one row.
CHUNK_FRACTION = 16
CHUNK_MAX_BYTES = 32 << 20
CHUNK_MIN_BYTES = 1 << 20


def chunk_rows(rows: int, classes: int, itemsize: int) -> int:
    """Rows per chunk: a function of the shape only (never of the thread count)."""
    row_bytes = max(1, classes * itemsize)
    budget = min(CHUNK_MAX_BYTES, max(CHUNK_MIN_BYTES, rows * row_bytes // CHUNK_FRACTION))
    if rows * row_bytes > CHUNK_MIN_BYTES:
        # 15/16 of the 1/16: room for the call's O(N + V) vectors (labels, bias sums)
        budget = min(budget, max(row_bytes, rows * row_bytes // CHUNK_FRACTION * 15 // 16))
    count = max(1, budget // row_bytes)
    if count >= 32:
        count -= count % 16  # whole register blocks for the GEMM kernels
    return int(min(count, max(rows, 1)))


# Work split into blocks whose boundaries depend on the shape only: vocabulary blocks for the
# logits GEMM and d_W, feature blocks for d_input; the blocks are shared among the threads.
CLASS_BLOCKS = 16
# 2, not 8: each d_input block re-packs the whole chunk gradient G; at (2048, 512, 32000)
# float32 the call took 2731 -> 2431 ms at 1 thread and 1456 -> 1367 ms at 2 (medians of 3)
FEATURE_BLOCKS = 2
ROW_BLOCKS = 8
# below this many multiply-adds per call, one thread (a thread pool costs ~0.1 ms to start)
PARALLEL_MIN_WORK = 1 << 22


def _blocks(length: int, count: int, minimum: int) -> List[slice]:
    size = max(minimum, -(-length // count))
    size = -(-size // 16) * 16
    return [slice(start, min(length, start + size)) for start in range(0, length, size)]


def _workers(threads: int, work: int) -> int:
    if threads == 1 or work < PARALLEL_MIN_WORK:
        return 1
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _parallel(pool: Optional[ThreadPoolExecutor], tasks: List[Callable[[], None]]) -> None:
    if pool is None or len(tasks) == 1:
        for task in tasks:
            task()
        return
    for future in [pool.submit(task) for task in tasks]:
        future.result()


def _as_compute(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return check.as_contiguous(array.astype(dtype, copy=False))


def _check_outs(out: Any, accumulate: bool, return_grad: bool, shapes: Sequence[Optional[Tuple[int, ...]]],
                dtype: np.dtype, inputs: Tuple[Tuple[str, Any], ...]) -> Optional[List[Optional[np.ndarray]]]:
    names = ("d_input", "d_linear_weight", "d_linear_bias")
    if out is None:
        if accumulate:
            raise ValueError("accumulate=True adds into out=(d_input, d_linear_weight[, d_linear_bias]): "
                             "pass out (and return_grad=True)")
        return None
    if not return_grad:
        raise ValueError("out receives the gradients: pass return_grad=True to use it")
    if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
        raise TypeError("out: expected a tuple (d_input, d_linear_weight[, d_linear_bias]) of arrays, "
                        f"got {type(out).__name__}")
    has_bias = shapes[2] is not None
    if has_bias and (len(out) != 3 or out[2] is None):
        raise ValueError("out: with linear_bias, expected (d_input, d_linear_weight, d_linear_bias)")
    if not has_bias and len(out) == 3 and out[2] is not None:
        raise ValueError("out: d_linear_bias given but there is no linear_bias (pass None or a 2-tuple)")
    checked: List[Optional[np.ndarray]] = []
    for index, name in enumerate(names):
        shape = shapes[index]
        if shape is None:
            checked.append(None)
            continue
        array = out[index]
        try:
            checked.append(check.check_out(array, True, shape, dtype))
        except (TypeError, ValueError) as error:
            raise type(error)(str(error).replace("out:", f"out[{index}] ({name}):", 1)) from None
    arrays = [(names[i], a) for i, a in enumerate(checked) if a is not None]
    for position, (name, array) in enumerate(arrays):
        for other_name, other in arrays[position + 1:]:
            if np.may_share_memory(array, other):
                raise ValueError(f"out: {name} and {other_name} overlap; expected separate buffers")
        for input_name, value in inputs:
            if isinstance(value, np.ndarray) and np.may_share_memory(array, value):
                raise ValueError(f"out: {name} overlaps an input array ({input_name}); "
                                 "expected a separate buffer")
    return checked


Gradients = Tuple[FloatArray, FloatArray, Optional[FloatArray]]


@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ...,
    return_argmax: Literal[False] = ...,
    out: None = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Scalar: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_argmax: Literal[False] = ...,
    out: None = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> FloatArray: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_argmax: Literal[False] = ...,
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Tuple[Scalar, Gradients]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_argmax: Literal[False] = ...,
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Tuple[FloatArray, Gradients]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_argmax: Literal[True],
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Tuple[Loss, Gradients, IntArray]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool, return_argmax: bool = ...,
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Union[Loss, Tuple[Loss, Gradients], Tuple[Loss, IntArray], Tuple[Loss, Gradients, IntArray]]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[False] = ..., return_argmax: bool,
    out: None = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[False] = ...,
) -> Union[Loss, Tuple[Loss, IntArray]]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_argmax: Literal[False] = ...,
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: Literal[True],
) -> Tuple[Loss, Gradients, FloatArray]: ...
@overload
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, labels: ArrayLike, *,
    linear_bias: Optional[ArrayLike] = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_argmax: bool = ...,
    out: Optional[Sequence[Optional[FloatArray]]] = ..., accumulate: bool = ...,
    threads: Optional[int] = ..., return_hessian: bool,
) -> Any: ...


def linear_cross_entropy(
    input: ArrayLike,
    linear_weight: ArrayLike,
    labels: ArrayLike,
    *,
    linear_bias: Optional[ArrayLike] = None,
    weight: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: Optional[float] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    return_argmax: bool = False,
    out: Optional[Sequence[Optional[FloatArray]]] = None,
    accumulate: bool = False,
    threads: Optional[int] = None,
    return_hessian: bool = False,
) -> Any:
    r"""A linear layer and softmax cross-entropy, fused: the ``(N, V)`` logits are never held.

    ``loss = softmax_cross_entropy(input @ linear_weight.T + linear_bias, labels, <options>)``
    with every option of :func:`softmax_cross_entropy` that takes integer labels (``weight``,
    ``sample_weight``, ``ignore_index``, ``label_smoothing``, ``z_loss``, ``softcap``,
    ``reduction``, ``return_argmax``). Gradients, with ``G = dloss/dlogits`` (the softmax-CE
    gradient of the chosen reduction; under ``"none"`` that of ``sum_i loss_i``):
    ``d_input = G @ linear_weight``, ``d_linear_weight = G.T @ input``,
    ``d_linear_bias = G.sum(0)``.

    Shapes: ``input`` ``(..., D)``, ``linear_weight`` ``(V, D)``, ``linear_bias`` ``(V,)``,
    integer ``labels`` ``(...)`` (the batch shape), ``weight`` ``(V,)``, ``sample_weight``
    ``(N,)``. Soft targets are not taken (they would be an ``(N, V)`` array): ``TypeError``.

    Memory: token rows are processed in chunks whose logits take at most 1/16 of the full
    logits' bytes (at most 32 MiB), one buffer reused for every chunk: the logits become the
    gradient in place and feed both gradient GEMMs (NumPy's own BLAS) at once.
    Results are bitwise identical for any ``threads``: NumPy's BLAS runs single-threaded
    inside the call (process-wide, restored after it) and the call shares fixed blocks of each
    GEMM among ``threads`` threads of its own (None: every CPU available to the process).

    Returns the loss; with ``return_grad=True`` ``(loss, (d_input, d_linear_weight,
    d_linear_bias))`` (``d_linear_bias`` is ``None`` without a bias); with
    ``return_argmax=True`` the per-row argmax of the logits comes last (int64, batch shape).
    ``out=(d_input, d_linear_weight[, d_linear_bias])`` receives the gradients;
    ``accumulate=True`` adds into ``d_linear_weight``/``d_linear_bias`` (gradient accumulation
    over micro-batches) and still overwrites ``d_input``.

    ``return_hessian=True`` (implies the gradients) returns ``(loss, grads, hess_input[,
    argmax])``: the diagonal of the Hessian of the returned loss w.r.t. ``input`` (its shape),
    for plain rows ``c_i (sum_v W_vk**2 p_iv - (sum_v W_vk p_iv)**2)`` times the reduction's
    factor, with the exact z-loss and softcap terms (the logits' Hessian is
    ``diag(M) - k q q^T``, so row ``i`` is ``M_i @ W**2 - k_i (q_i @ W)**2``). Computed in
    float64 by NumPy and BLAS, chunk by chunk as the gradients (no ``(N, V)`` array held);
    ``out`` still receives the gradients only, the Hessian is a new array.

    >>> import numpy as np, fusedloss
    >>> x = np.array([[1.0, 2.0], [0.5, -1.0]]); w = np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.5]])
    >>> loss, (dx, dw, db) = fusedloss.linear_cross_entropy(x, w, [2, 0], return_grad=True)
    >>> round(float(loss), 4), dx.shape, dw.shape, db
    (0.9309, (2, 2), (3, 2), None)
    """
    return _linear_cross_entropy(
        input, linear_weight, labels, linear_bias=linear_bias, weight=weight,
        sample_weight=sample_weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
        z_loss=z_loss, softcap=softcap, reduction=reduction, return_grad=return_grad,
        return_argmax=return_argmax, out=out, accumulate=accumulate, threads=threads,
        return_hessian=return_hessian)


def _input_hessian(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], y: np.ndarray,
                   class_weight: Optional[np.ndarray], row_weight: Optional[np.ndarray],
                   ignore: Optional[int], smoothing: float, z_lambda: float, cap: Optional[float],
                   scale: float) -> np.ndarray:
    """The Hessian diagonal w.r.t. the (N, D) input, float64, in row chunks of the gradients'
    size: per chunk the logits, the reference's (M, q, k) (the logits' Hessian is
    diag(M) - k q q^T) and ``M @ W**2 - k (q @ W)**2``, times ``scale``."""
    rows = x.shape[0]
    classes = w.shape[0]
    w64 = np.asarray(w, dtype=np.float64)
    squares = w64 * w64
    result = np.zeros(x.shape, dtype=np.float64)
    step = chunk_rows(rows, classes, 8)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        logits = np.asarray(x[start:stop], dtype=np.float64) @ w64.T
        if b is not None:
            logits += np.asarray(b, dtype=np.float64)
        terms = _reference.softmax_cross_entropy(
            logits, y[start:stop], weight=class_weight,
            sample_weight=None if row_weight is None else row_weight[start:stop],
            ignore_index=-100 if ignore is None else ignore, reduction="sum",
            label_smoothing=smoothing, z_loss=z_lambda, softcap=cap, return_hessian=True,
            hessian_terms=True)[3]
        full, q, k = terms
        with np.errstate(over="ignore", invalid="ignore"):
            projected = q @ w64
            result[start:stop] = (full @ squares - k[:, None] * projected * projected) * scale
    return result


def mean_denominator(labels: np.ndarray, class_weight: Optional[np.ndarray],
                     row_weight: Optional[np.ndarray], ignore: int) -> float:
    """softmax-CE's "mean" denominator: sum(weight[y_i] * sample_weight_i) over the rows not
    ignored, correctly rounded (math.fsum: the same value whatever the chunking, in memory or
    over Dask chunks)."""
    kept = labels != ignore
    if class_weight is None and row_weight is None:
        return float(np.count_nonzero(kept))
    row_w = np.ones(labels.shape[0]) if row_weight is None else row_weight
    if class_weight is not None:
        row_w = row_w * class_weight[np.where(kept, labels, 0)]
    return math.fsum(row_w[kept].tolist())


def _linear_cross_entropy(
    input: Any, linear_weight: Any, labels: Any, *, linear_bias: Any, weight: Any,
    sample_weight: Any, ignore_index: Any, label_smoothing: Any, z_loss: Any, softcap: Any,
    reduction: Any, return_grad: Any, return_argmax: Any, out: Any, accumulate: Any,
    threads: Any, denominator: Optional[float] = None, return_hessian: Any = False,
) -> Any:
    """linear_cross_entropy; with ``denominator`` (fusedloss.dask) a "mean" call divides the
    gradients by it and returns the loss as the float64 *sum* (the caller divides)."""
    return_grad = check.check_flag(return_grad, "return_grad")
    return_argmax = check.check_flag(return_argmax, "return_argmax")
    accumulate = check.check_flag(accumulate, "accumulate")
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    return_grad = return_grad or return_hessian
    label_array = check.as_array(labels, "labels")
    if check.is_float_dtype(label_array.dtype):
        raise TypeError(
            "labels: linear_cross_entropy takes integer class indices, not soft targets (a float "
            f"array, dtype {label_array.dtype}): soft targets would be an (N, V) array, the very "
            "logits-sized array this function never holds"
        )
    x, x_result = check.as_float_array(input, "input")
    w, w_result = check.as_float_array(linear_weight, "linear_weight")
    if x.ndim < 1:
        raise ValueError("input: expected an array of shape (..., D), got a 0-d array")
    if w.ndim != 2:
        raise ValueError(f"linear_weight: expected shape (V, D), got {w.shape}")
    features = x.shape[-1]
    classes = w.shape[0]
    if w.shape[1] != features:
        raise ValueError(
            f"linear_weight: expected shape (V, {features}) (D = input.shape[-1] = {features}), "
            f"got {w.shape}")
    if classes == 0:
        raise ValueError("linear_weight: expected at least one class (V >= 1), got V = 0")
    compute = np.result_type(x.dtype, w.dtype)
    result_dtype = np.result_type(x_result, w_result)
    bias: Optional[np.ndarray] = None
    if linear_bias is not None:
        bias, b_result = check.as_float_array(linear_bias, "linear_bias")
        if bias.shape != (classes,):
            raise ValueError(f"linear_bias: expected shape ({classes},) (one per row of "
                             f"linear_weight), got {bias.shape}")
        compute = np.result_type(compute, bias.dtype)
        result_dtype = np.result_type(result_dtype, b_result)
    if compute.itemsize < 4:
        # 16-bit operands: the two products run in float32 (NumPy's BLAS has no bfloat16 or
        # float16 GEMM), chunk by chunk for the logits; the results are rounded to the input's
        # dtype at the end (d_linear_weight accumulated in float32, as the SPEC asks).
        compute = np.dtype(np.float32)
    batch_shape = x.shape[:-1]
    y = check.check_labels(label_array, batch_shape)
    rows = int(np.prod(batch_shape, dtype=np.int64))
    class_weight = check.check_weight_vector(weight, classes, "weight", "one weight per class")
    row_weight = check.check_weight_vector(sample_weight, rows, "sample_weight", "one weight per row")
    reduction_code = check.check_reduction(reduction)
    thread_count = check.check_threads(threads)
    ignore = check.check_ignore_index(ignore_index)
    smoothing = check.check_option(label_smoothing, "label_smoothing", 0.0, 1.0)
    z_lambda = check.check_option(z_loss, "z_loss", 0.0)
    cap = None if softcap is None else check.check_option(softcap, "softcap", 0.0, low_open=True)
    if cap is not None and cap < np.finfo(compute).tiny:
        raise ValueError(f"softcap: expected a number >= {np.finfo(compute).tiny:.6g} (the smallest "
                         f"normal {compute}, so that 1 / softcap is finite), got {softcap!r}")
    outs = _check_outs(out, accumulate, return_grad,
                       (x.shape, (classes, features), None if bias is None else (classes,)),
                       result_dtype, (("input", input), ("linear_weight", linear_weight),
                                      ("labels", labels), ("linear_bias", linear_bias),
                                      ("weight", weight), ("sample_weight", sample_weight)))
    invalid = (y != ignore) & ((y < 0) | (y >= classes))
    if invalid.any():
        raise check.label_error(y, int(np.argmax(invalid)), classes, batch_shape)

    x2 = _as_compute(x.reshape(rows, features), compute)
    w2 = _as_compute(w, compute)
    b2 = None if bias is None else _as_compute(bias, compute)
    reduction_name = ("none", "sum", "mean")[reduction_code]

    partial = denominator is not None
    if reduction_code == 2 and denominator is None:
        denominator = mean_denominator(y, class_weight, row_weight, ignore)
    if _backend.use_native():
        value, grads, argmax = _native(x2, w2, b2, y, class_weight, row_weight, ignore, reduction_code,
                                       return_grad, return_argmax, thread_count, smoothing, z_lambda,
                                       cap, outs, accumulate, denominator or 0.0)
    else:
        value, grads, argmax = _reference.linear_cross_entropy(
            x2, w2, b2, y, weight=class_weight, sample_weight=row_weight, ignore_index=ignore,
            reduction="sum" if reduction_code == 2 else reduction_name, return_grad=return_grad,
            label_smoothing=smoothing, z_loss=z_lambda, softcap=cap, return_argmax=return_argmax)
        if reduction_code == 2:
            inverse = 1.0 / denominator if denominator else 0.0
            if grads is not None:
                grads = tuple(None if g is None else g * inverse for g in grads)
    if reduction_code == 2 and not partial:
        value = float(value) / denominator if denominator else 0.0
    # the loss: float64 partial sums stay float64 for fusedloss.dask (PARTIAL_SUMS), else the
    # result dtype
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(value, np.ndarray):
            loss: Any = value.reshape(batch_shape).astype(result_dtype, copy=False)
        elif (check.is_partial(reduction) or partial) and outs is None:
            loss = np.float64(value)
        else:
            loss = result_dtype.type(value)
    results: List[Any] = [loss]
    if return_grad:
        assert grads is not None
        finished: List[Optional[np.ndarray]] = []
        for index, gradient in enumerate(grads):
            if gradient is None:
                finished.append(None)
                continue
            if index == 0:
                gradient = gradient.reshape(x.shape)
            target = None if outs is None else outs[index]
            if target is not None:
                if gradient is not target:
                    if accumulate and index > 0 and _backend.use_native() is False:
                        with np.errstate(over="ignore", invalid="ignore"):
                            np.add(target, gradient, out=target, casting="unsafe")
                    else:
                        np.copyto(target, gradient, casting="unsafe")
                finished.append(target)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    finished.append(gradient.astype(result_dtype, copy=False))
        results.append(tuple(finished))
    if return_hessian:
        scale = 1.0
        if reduction_code == 2:
            scale = 1.0 / denominator if denominator else 0.0
        hessian = _input_hessian(x2, w2, b2, y.reshape(-1), class_weight, row_weight, ignore,
                                 smoothing, z_lambda, cap, scale)
        with np.errstate(over="ignore", invalid="ignore"):
            results.append(hessian.reshape(x.shape).astype(result_dtype, copy=False))
    if return_argmax:
        assert argmax is not None
        results.append(argmax.reshape(batch_shape))
    return results[0] if len(results) == 1 else tuple(results)


def _native(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], y: np.ndarray,
            class_weight: Optional[np.ndarray], row_weight: Optional[np.ndarray], ignore: int,
            reduction_code: int, return_grad: bool, return_argmax: bool, threads: int,
            smoothing: float, z_lambda: float, cap: Optional[float],
            outs: Optional[List[Optional[np.ndarray]]], accumulate: bool, denominator: float,
            ) -> Tuple[Union[float, np.ndarray], Optional[Tuple[Optional[np.ndarray], ...]], Optional[np.ndarray]]:
    core: Any = _backend.core
    rows, features = x.shape
    classes = w.shape[0]
    dtype = x.dtype
    losses = np.empty(rows, dtype) if reduction_code == 0 else None
    argmax = np.empty(rows, np.int64) if return_argmax else None
    # "mean": the chunk gradients are scaled by 1 / (the global denominator, known before any
    # logit is computed); the loss is returned as the float64 sum
    scale = (1.0 / denominator if denominator != 0.0 else 0.0) if reduction_code == 2 else 1.0
    d_input = d_weight = d_bias = None
    if return_grad:
        # d_input: written chunk by chunk (the caller's out when it has the compute dtype)
        d_input = outs[0] if outs is not None and outs[0] is not None and outs[0].dtype == dtype else None
        if d_input is None:
            d_input = np.empty((rows, features), dtype)
        d_input = d_input.reshape(rows, features)
        if outs is not None and outs[1] is not None and outs[1].dtype == dtype:
            d_weight = outs[1]
            if not accumulate:
                d_weight.fill(0)
        else:
            d_weight = (outs[1].astype(dtype) if (outs is not None and accumulate and outs[1] is not None)
                        else np.zeros((classes, features), dtype))
        if b is not None:
            if outs is not None and outs[2] is not None and outs[2].dtype == dtype:
                d_bias = outs[2]
                if not accumulate:
                    d_bias.fill(0)
            else:
                d_bias = (outs[2].astype(dtype) if (outs is not None and accumulate and outs[2] is not None)
                          else np.zeros(classes, dtype))

    step = chunk_rows(rows, classes, dtype.itemsize)
    buffer = np.empty((min(step, rows), classes), dtype)
    chunk_reduction = 0 if reduction_code == 0 else 1
    class_blocks = _blocks(classes, CLASS_BLOCKS, 256)
    feature_blocks = _blocks(features, FEATURE_BLOCKS, 64)
    workers = _workers(threads, rows * classes * features)
    total = 0.0
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        with _blas.single_threaded():
            for start in range(0, rows, step):
                stop = min(rows, start + step)
                x_chunk = x[start:stop]
                logits = buffer[: stop - start]
                # logits = x W^T (+ b), vocabulary block by vocabulary block
                _parallel(pool, [
                    (lambda block: lambda: _blas.gemm(x_chunk, w[block].T, logits[:, block], 0.0))(block)
                    for block in class_blocks])
                if b is not None:
                    logits += b
                # the row kernel on fixed row blocks of the chunk, one thread each, shared
                # among the call's threads: no OpenMP team whose spinning workers would compete
                # with the BLAS blocks (2 cores: 1.32x -> 1.17x the floor with passive OpenMP)
                row_blocks = _blocks(stop - start, ROW_BLOCKS, 16)
                results: List[Any] = [None] * len(row_blocks)

                def kernel(index: int, block: slice, chunk_start: int = start, rows_logits: np.ndarray = logits) -> None:
                    first, last = chunk_start + block.start, chunk_start + block.stop
                    part = rows_logits[block]
                    results[index] = core.row_loss(
                        "softmax_cross_entropy", part, y[first:last],
                        (smoothing, z_lambda, 0.0 if cap is None else cap), class_weight,
                        None if row_weight is None else row_weight[first:last], ignore, True,
                        chunk_reduction, return_grad, False, part if return_grad else None,
                        None, 1, None, return_argmax)

                _parallel(pool, [(lambda i, blk: lambda: kernel(i, blk))(i, blk) for i, blk in enumerate(row_blocks)])
                for block, (value, _, _, block_argmax) in zip(row_blocks, results):
                    if losses is not None:
                        losses[start + block.start:start + block.stop] = value
                    else:
                        total += float(value)  # float64 partial sums, in block order
                    if argmax is not None:
                        argmax[start + block.start:start + block.stop] = block_argmax
                if not return_grad:
                    continue
                assert d_weight is not None and d_input is not None
                if scale != 1.0:
                    logits *= dtype.type(scale)
                d_input_chunk = d_input[start:stop]
                # d_input = G W by feature blocks; d_W += G^T x by vocabulary blocks: every
                # output element is one BLAS dot product over the same operands, whichever
                # thread computes it
                tasks = [(lambda block: lambda: _blas.gemm(logits, w[:, block], d_input_chunk[:, block], 0.0))(block)
                         for block in feature_blocks]
                tasks += [(lambda block: lambda: _blas.gemm(logits[:, block].T, x_chunk, d_weight[block], 1.0))(block)
                          for block in class_blocks]
                _parallel(pool, tasks)
                if d_bias is not None:
                    d_bias += logits.sum(axis=0)
    finally:
        if pool is not None:
            pool.shutdown()
    value_out: Union[float, np.ndarray]
    if losses is not None:
        value_out = losses
    else:
        value_out = total
    grads = (d_input, d_weight, d_bias) if return_grad else None
    return value_out, grads, argmax
