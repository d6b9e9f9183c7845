"""The cross-entropy of probabilities, and the broadcast and periodic forms of the element
operands that the elementwise losses share (``weight``, ``pos_weight``)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Tuple, Union, cast, overload

import numpy as np

from . import _backend, _reference
from . import _validation as check
from ._losses import (_NOT_FAST, LossResult,
                      _fast_classification, _fast_real, _finish, _kernel_out)
from .typing import (ArrayLike, FloatArray, HessianOut, Loss, LossAndGrad, LossGradHess,
                     Reduction, Scalar)


def _broadcast_operand(value: ArrayLike, name: str, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """`value` (a real array) converted to `dtype` and broadcast to `shape` (never enlarging it)."""
    array = check.as_array(value, name)
    if array.dtype.kind not in "iubf" and not check.is_float_dtype(array.dtype):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    if array.dtype.kind == "f" and array.dtype.itemsize > 8:
        raise TypeError(f"{name}: expected float16, float32 or float64, got {array.dtype} (long "
                        "double: float64 would silently drop its extra precision)")
    try:
        broadcast_shape = np.broadcast_shapes(array.shape, shape)
    except ValueError:
        broadcast_shape = None
    if broadcast_shape != shape:
        raise ValueError(
            f"{name}: expected a shape that broadcasts to the logits' shape {shape}, "
            f"got {array.shape}"
        )
    return array.astype(dtype, copy=False)


# Shortest pattern handed to the kernel for a periodic weight: the kernel walks the elements in
# chunks that end where the pattern does, so a period of C = 10 is tiled to >= 1024 entries.
_MIN_PATTERN = 1024


def _periodic_operand(array: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    """`array` (broadcastable to `shape`) as the kernel's periodic form: a contiguous 1-d pattern
    whose entry ``k % len(pattern)`` is element ``k`` (row-major) of the broadcast array.

    Axes where `array` has length 1 (or that it lacks) repeat it; past the first axis where it
    varies, it is written out once. A per-class ``(C,)`` or ``(1, ..., C)`` weight is a period
    of ``C``, a scalar a period of 1; only one that varies along axis 0 is materialised to the
    full shape.
    """
    padded = (1,) * (len(shape) - array.ndim) + array.shape
    varying = [axis for axis, length in enumerate(padded) if length != 1]
    if not varying:
        period = array.reshape(1)
    else:
        first = varying[0]
        period = np.broadcast_to(array.reshape(padded[first:]), shape[first:]).reshape(-1)
    if period.size < _MIN_PATTERN:
        period = np.tile(period, -(-_MIN_PATTERN // period.size))
    return check.as_contiguous(period)


@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Scalar: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> FloatArray: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction, return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Loss: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool, return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> LossGradHess: ...
@overload
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = ..., sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: bool, out: Any = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad, LossGradHess]: ...


def cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    eps: float = 1e-7,
    sample_weight: Optional[ArrayLike] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    out: Any = None,
    threads: Optional[int] = None,
    return_hessian: bool = False,
) -> LossResult:
    r"""Cross-entropy of given probabilities (no softmax inside).

    ``loss_i = -sum_j t_ij log(p_ij + eps)``, ``t`` one-hot from integer ``labels`` or given
    soft targets. Gradient w.r.t. ``p``: ``-t / (p + eps)`` (0 where ``t = 0``), times the row's
    sample weight and the reduction's factor.

    Shapes: ``probs`` ``(..., C)``; ``labels`` integer ``(...)`` (the batch shape), or float
    with ``probs``' shape (soft targets, used as given; terms with ``t_ij = 0`` count 0).
    ``sample_weight`` ``(N,)`` per row; ``"mean"`` is ``sum_i w_i l_i / sum_i w_i`` (``N``
    unweighted; 0 when the denominator is 0). ``eps`` must be finite and ``>= 0``.

    ``return_hessian=True`` (implies the gradient) appends the diagonal of the Hessian w.r.t.
    ``p``: ``t / (p + eps)**2`` (0 where ``t = 0``; there is no clipping, so no flat region),
    times the row's sample weight and the reduction's factor; ``out`` is then a pair
    ``(grad_out, hess_out)`` (either may be None).

    >>> import numpy as np, fusedloss
    >>> p = np.array([0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0])
    >>> round(float(fusedloss.cross_entropy(p, 2)), 6)
    0.510825
    >>> round(float(fusedloss.cross_entropy(p[[0, 1, 7, 3, 4, 5, 6, 2, 8, 9]], 2)), 6)
    2.302584
    """
    return_grad = check.check_flag(return_grad, "return_grad")
    hess_out = None
    if return_hessian is not False:
        return_grad, return_hessian, out, hess_out = check.hessian_request(return_hessian, return_grad, out)
    if (return_hessian is False and sample_weight is None and _fast_real(eps) is not None
            and eps >= 0
            and type(reduction) is str and reduction in check.REDUCTIONS
            and _backend._state["backend"] == "native"):
        # Integer labels only (soft targets take the general path).
        core = _backend.core
        reduction_code, parameters = check.REDUCTIONS[reduction], (float(eps),)

        def kernel(x: np.ndarray, y: np.ndarray, kernel_out: Any, count: int) -> Any:
            return core.row_loss(  # type: ignore[union-attr]
                "cross_entropy", x, y, parameters, None, None, None, False, reduction_code,
                return_grad, False, kernel_out, None, count, None)

        result = _fast_classification(probs, labels, out, threads, return_grad, kernel, (), ())
        if result is not _NOT_FAST:
            return cast(LossResult, result)
    p, result_dtype = check.as_class_rows(probs, "probs")
    classes = p.shape[-1]
    batch_shape = p.shape[:-1]
    eps = check.check_real(eps, "eps")
    if eps < 0:
        raise ValueError(f"eps: expected a finite number >= 0, got {eps}")
    label_array = check.as_array(labels, "labels")
    soft = None
    y = None
    if check.is_float_dtype(label_array.dtype):
        if label_array.shape != p.shape:
            raise ValueError(
                f"labels: soft targets (a float array) must have the shape of probs {p.shape}, "
                f"got {label_array.shape}"
            )
        soft = label_array.astype(p.dtype, copy=False)
    else:
        y = check.check_labels(labels, batch_shape)
    rows = int(np.prod(batch_shape))
    row_weight = check.check_weight_vector(sample_weight, rows, "sample_weight", "one weight per row")
    reduction_code = check.check_reduction(reduction)
    thread_count = check.check_threads(threads)
    out = check.check_out(out, return_grad, p.shape, result_dtype)
    check.check_out_aliasing(out, probs, (("labels", labels), ("sample_weight", sample_weight)))
    hessian: Optional[np.ndarray] = None
    if return_hessian:
        hess_out = check.check_hessian_out(hess_out, out, p.shape, result_dtype, probs, (
            ("labels", labels), ("sample_weight", sample_weight)))

    if _backend.use_native():
        # The row driver (classification_losses.inl): labels, or a row of soft targets per row;
        # "mean" divides by the rows (or the summed sample weights) either way.
        rows2d = check.as_rows(p)
        second = y if soft is None else check.as_rows(soft)
        value, gradient, hessian = _backend.core.row_loss(  # type: ignore[union-attr]
            "cross_entropy" if soft is None else "cross_entropy_soft_targets", rows2d, second,
            (eps,), None, row_weight, None, False, reduction_code, return_grad,
            bool(return_hessian), _kernel_out(out, p, rows2d), _kernel_out(hess_out, p, rows2d),
            thread_count, batch_shape)
    else:
        if y is not None:
            invalid = (y < 0) | (y >= classes)
            if invalid.any():
                raise check.label_error(y, int(np.argmax(invalid)), classes, batch_shape)
        reference = _reference.cross_entropy(
            p, y, targets=soft, eps=eps, sample_weight=row_weight,
            reduction=check.reduction_name(reduction),
            return_grad=return_grad, return_hessian=bool(return_hessian),
        )
        value, gradient = reference[:2]
        if return_hessian:
            hessian = reference[2]
    return _finish(value, gradient, result_dtype, batch_shape, p.shape, return_grad, out,
                   check.is_partial(reduction), hessian if return_hessian else None, hess_out)
