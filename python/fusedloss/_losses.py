"""The public loss functions: validate, then run the kernels or the NumPy reference."""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, Optional, Tuple, Union, cast, overload

import numpy as np

from . import _backend, _reference
from . import _validation as check
from .typing import (ArrayLike, FloatArray, HessianOut, IntArray, Loss, LossAndGrad, LossGradHess,
                     Reduction, Scalar)

LossResult = Union[np.floating, np.ndarray, Tuple[Any, ...]]


def _deliver(array: np.ndarray, shape: Tuple[int, ...], result_dtype: np.dtype,
             out: Optional[np.ndarray]) -> np.ndarray:
    """A gradient or Hessian as returned: in `out` when given (copied there unless the kernel
    wrote it in place), else in the result dtype."""
    array = np.asarray(array).reshape(shape)
    if out is None:
        return array.astype(result_dtype, copy=False)
    if array is not out and not np.shares_memory(array, out):
        np.copyto(out, array, casting="unsafe")
    return out


def _finish(
    value: Any,
    gradient: Optional[np.ndarray],
    result_dtype: np.dtype,
    batch_shape: Tuple[int, ...],
    grad_shape: Tuple[int, ...],
    return_grad: bool,
    out: Optional[np.ndarray],
    partial: bool = False,
    hessian: Optional[np.ndarray] = None,
    hess_out: Optional[np.ndarray] = None,
) -> LossResult:
    """The public result of every loss: the loss in the result dtype, then the gradient where
    asked, then the Hessian where one is given (return_hessian: it implies the gradient).
    ``partial`` (reduction=PARTIAL_SUMS, fusedloss.dask): a sum stays the kernel's float64."""
    # a float64 value (numpy backend) beyond float32's range rounds to inf, silently
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(value, np.ndarray):
            loss: Any = value.reshape(batch_shape).astype(result_dtype, copy=False)
        elif partial:
            loss = np.float64(value)
        else:
            loss = result_dtype.type(value)
        if not return_grad and hessian is None:
            return cast(LossResult, loss)
        assert gradient is not None
        grad = _deliver(gradient, grad_shape, result_dtype, out)
        if hessian is None:
            return loss, grad
        return loss, grad, _deliver(hessian, grad_shape, result_dtype, hess_out)


def _kernel_out(out: Optional[np.ndarray], compute: np.ndarray, rows2d: np.ndarray) -> Optional[np.ndarray]:
    """The buffer the kernel writes into: `out` itself when it has the compute dtype (the
    kernel checks overlaps: `out` may be the input array itself, nothing else)."""
    if out is None or out.dtype != compute.dtype:
        return None
    return out.reshape(rows2d.shape)


# The common case of the row-wise losses, checked with a few attribute reads (call overhead:
# a (32, 10) call costs a few microseconds): 2-d aligned C-contiguous float32/float64 logits,
# 1-d C-contiguous int64/int32 labels of matching length, the default options. Whatever is
# not exactly that takes the full validation path, which gives the same results and errors.
_FAST_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)))


def _is_fast_float(dtype: np.dtype) -> bool:
    """float32/float64/float16, or a dtype named bfloat16 (by name: ml_dtypes is not imported
    here; the kernel module checks that it is ml_dtypes' and refuses another)."""
    return dtype in _FAST_FLOATS or (dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16")
_FAST_LABELS = frozenset((np.dtype(np.int64), np.dtype(np.int32)))
_INT64 = np.dtype(np.int64)


def _fast_rows_and_labels(x: Any, y: Any) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(logits, labels as a contiguous int64 vector) when (x, y) is the common case, else None."""
    if type(x) is not np.ndarray or type(y) is not np.ndarray:
        return None
    if x.ndim != 2 or y.ndim != 1 or not _is_fast_float(x.dtype) or y.dtype not in _FAST_LABELS:
        return None
    rows, classes = x.shape
    if rows == 0 or classes == 0 or y.shape[0] != rows:
        return None
    x_flags = x.flags
    if not (x_flags.c_contiguous and x_flags.aligned and y.flags.c_contiguous and y.flags.aligned):
        return None
    return x, (y if y.dtype == _INT64 else y.astype(_INT64))


def _fast_real(value: Any) -> Optional[float]:
    """``value`` as a float when it is a finite float or a plain int well inside the float
    range (the common case), else None: the full path checks it and explains."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int and -(2**53) <= value <= 2**53:
        return float(value)
    return None


def _fast_threads(threads: Any) -> Optional[int]:
    """The kernel's thread count (0: OpenMP's default) when ``threads`` is None or a positive
    int, else None (the full path checks it and explains)."""
    if threads is None:
        return 0
    if type(threads) is int and 0 < threads <= check.MAX_THREADS:
        return threads
    return None


def _fast_result(value: Any, gradient: Optional[np.ndarray], dtype: np.dtype,
                 return_grad: bool) -> Any:
    """A kernel's value as the public functions return it: per-row or per-element losses as
    they are, a sum in the input's dtype (the fast paths never take PARTIAL_SUMS)."""
    if type(value) is not np.ndarray:
        if -65504.0 <= value <= 65504.0:  # (NaN goes below: no overflow, no warning)
            value = dtype.type(value)
        else:
            # beyond float16's (or float32's) range: inf, as the general path rounds it, silently
            with np.errstate(over="ignore"):
                value = dtype.type(value)
    return (value, gradient) if return_grad else value


_NOT_FAST = object()

# The fast paths hand `out` to the kernel module as given: it checks dtype, shape, layout,
# writeability and overlaps before anything is written, and a bad label after `out` (the
# order of the general checks), each with the general checks' wording. One path: whatever the
# kernel module raises is the call's error.


def _fast_classification(logits: Any, labels: Any, out: Any, threads: Any, return_grad: bool,
                         kernel: Any, before: Tuple[Any, ...], after: Tuple[Any, ...]) -> Any:
    """A row-wise loss with integer labels on the common case (see _fast_rows_and_labels and
    _fast_threads): ``kernel(logits, int64 labels, *before, out, threads, *after)``, which
    returns (value, gradient, ...); _NOT_FAST when the call is not that case."""
    fast = _fast_rows_and_labels(logits, labels)
    count = _fast_threads(threads)
    if fast is None or count is None:
        return _NOT_FAST
    x, y = fast
    if out is not None and (y is not labels or type(out) is not np.ndarray):
        # (converted labels: the kernel module could not see an `out` overlapping the original)
        return _NOT_FAST
    value, gradient = kernel(x, y, *before, out, count, *after)[:2]
    return _fast_result(value, gradient, x.dtype, return_grad)


def _is_common_elementwise(first: Any, second: Any, out: Any, reduction: Any) -> bool:
    """The common case of the elementwise losses, checked with a few attribute reads: two
    aligned C-contiguous arrays of one float dtype and shape, no out or a plain ndarray out, a
    public reduction, the native backend. The kernel module checks the rest (out's layout and
    overlaps) itself, with the general checks' wording."""
    if not (type(first) is np.ndarray and type(second) is np.ndarray
            and (out is None or type(out) is np.ndarray)
            and _is_fast_float(first.dtype) and second.dtype == first.dtype
            and second.shape == first.shape and first.ndim >= 1 and first.size > 0
            and type(reduction) is str and reduction in check.REDUCTIONS
            and _backend._state["backend"] == "native"):
        return False
    first_flags, second_flags = first.flags, second.flags
    return bool(first_flags.c_contiguous and first_flags.aligned
                and second_flags.c_contiguous and second_flags.aligned)


class _ClassificationInputs(NamedTuple):
    x: np.ndarray
    result_dtype: np.dtype
    batch_shape: Tuple[int, ...]
    labels: np.ndarray
    class_weight: Optional[np.ndarray]
    sample_weight: Optional[np.ndarray]
    reduction_code: int
    threads: int
    out: Optional[np.ndarray]


def _classification_inputs(
    scores: ArrayLike, labels: ArrayLike, name: str, weight: Optional[ArrayLike],
    sample_weight: Optional[ArrayLike], reduction: str, return_grad: bool,
    out: Optional[np.ndarray], threads: Optional[int], allow_soft: bool = False,
) -> _ClassificationInputs:
    """The checks shared by the row-wise classification losses. With ``allow_soft``, float
    labels are soft targets of the logits' shape (returned in the logits' compute dtype)."""
    x, result_dtype = check.as_class_rows(scores, name)
    classes = x.shape[-1]
    batch_shape = x.shape[:-1]
    if allow_soft and check.is_float_dtype(check.as_array(labels, "labels").dtype):
        y = check.check_soft_targets(labels, x.shape, x.dtype)
    else:
        y = check.check_labels(labels, batch_shape)
    rows = int(np.prod(batch_shape, dtype=np.int64))
    checked_out = check.check_out(out, return_grad, x.shape, result_dtype)
    check.check_out_aliasing(checked_out, scores, (
        ("labels", labels), ("weight", weight), ("sample_weight", sample_weight)))
    return _ClassificationInputs(
        x, result_dtype, batch_shape, y,
        check.check_weight_vector(weight, classes, "weight", "one weight per class"),
        check.check_weight_vector(sample_weight, rows, "sample_weight", "one weight per row"),
        check.check_reduction(reduction),
        check.check_threads(threads),
        checked_out,
    )


@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Scalar: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> FloatArray: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction, return_grad: Literal[False] = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Loss: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_argmax: Literal[False] = ..., return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ..., return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[False] = ..., return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_argmax: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool, return_argmax: bool = ..., return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad, Tuple[Loss, IntArray], Tuple[Loss, FloatArray, IntArray]]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: Literal[False] = ..., return_argmax: bool, return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, Tuple[Loss, IntArray]]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: bool = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Literal["none"], return_grad: bool = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_argmax: Literal[False] = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> LossGradHess: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_argmax: Literal[True], return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray, FloatArray, IntArray]: ...
@overload
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ..., ignore_index: int = ..., label_smoothing: float = ...,
    z_loss: float = ..., softcap: Optional[float] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_argmax: bool = ..., return_hessian: bool, out: Any = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad, Tuple[Loss, IntArray], Tuple[Loss, FloatArray, IntArray], LossGradHess, Tuple[Loss, FloatArray, FloatArray, IntArray]]: ...


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    weight: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: Optional[float] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    return_argmax: bool = False,
    out: Any = None,
    threads: Optional[int] = None,
    return_hessian: bool = False,
) -> LossResult:
    r"""Softmax cross-entropy (multinomial logistic loss), with integer labels or soft targets.

    ``loss_i = logsumexp(x_i) - x_{i, y_i}``, computed stably as
    ``m + log(sum_j exp(x_ij - m))`` with ``m = max_j x_ij``.
    Gradient: ``softmax(x_i) - onehot(y_i)``, times the row's weight and the reduction's factor.

    Shapes: ``logits`` ``(..., C)``, ``labels`` ``(...)`` (any integer dtype);
    ``weight`` ``(C,)`` per class, ``sample_weight`` ``(N,)`` per row (``N`` rows in all).
    Rows whose label equals ``ignore_index`` add nothing. ``"mean"`` divides by the summed
    row weights (``weight[y_i] * sample_weight[i]``) of non-ignored rows, as PyTorch's
    ``F.cross_entropy``; when that sum is 0 (e.g. every row ignored) loss and gradient are 0.

    Options (each fused into the same single pass over a row; ``p_i = softmax(z_i)``,
    ``lse_i = logsumexp(z_i)``, ``z`` the logits after ``softcap``), with PyTorch's
    ``F.cross_entropy`` meaning where it has the option:

    - ``labels`` **soft targets**: a float array of the logits' shape (converted to the logits'
      dtype): ``loss_i = -sum_j weight_j t_ij log p_ij`` (``0 log 0 = 0``), gradient
      ``(sum_j weight_j t_ij) p_i - weight * t_i`` (exact also when rows do not sum to 1).
      ``ignore_index`` does not apply; ``"mean"`` divides by ``N`` (or the summed
      ``sample_weight``), not by class weights, as PyTorch.
    - ``label_smoothing`` ``eps`` in [0, 1]: the target becomes ``(1 - eps) onehot + eps / C``.
      With ``weight`` (PyTorch's rule) ``loss_i = (1 - eps) weight[y_i] (lse_i - z_{i,y_i})
      + (eps / C) sum_j weight_j (lse_i - z_ij)``, gradient ``A_i p_i - a_i`` with
      ``a_ij = (1 - eps) weight[y_i] [j = y_i] + (eps / C) weight_j``, ``A_i = sum_j a_ij``;
      ``"mean"`` still divides by ``sum weight[y_i]``. Soft targets: ``t <- (1 - eps) t + eps / C``.
    - ``z_loss`` ``lam >= 0``: adds ``lam * lse_i**2`` to each non-ignored row (weighted like
      the row: ``sample_weight[i]``, times ``weight[y_i]`` for integer labels); gradient
      ``+ 2 lam lse_i p_i``.
    - ``softcap`` ``c > 0`` (``None``: off): ``z = c tanh(x / c)`` replaces the logits; the
      gradient is chain-ruled: ``dL/dx = dL/dz * (1 - tanh(x / c)**2)``.
    - ``return_argmax=True``: also returns the per-row argmax of the raw logits (before
      ``softcap``; int64, batch shape; first index on ties, as ``np.argmax``).

    - ``return_hessian=True``: also returns the **diagonal** of the Hessian of the returned loss
      w.r.t. the logits (the gradient's shape, dtype and reduction factor; scikit-learn's
      ``gradient_hessian`` meaning under ``"none"``), and implies the gradient (``return_grad``
      may stay False): ``A_i p_ij (1 - p_ij)`` with ``A_i = sum_j a_ij`` as above (``weight[y_i]``
      for a plain label), plus ``2 lam (p_ij**2 + lse_i p_ij (1 - p_ij))`` times the row weight
      for ``z_loss``, chain-ruled exactly through ``softcap``
      (``s'**2 H_z + s'' g_z``, ``s' = 1 - tanh**2``, ``s'' = -2 tanh s' / c``); ignored rows 0.
      ``out`` is then a pair ``(grad_out, hess_out)`` (either may be None; ``grad_out`` may be
      ``logits``, ``hess_out`` must be a separate buffer); a single array is a ``ValueError``.
      Computed in a separate pass: calls without it are unchanged, and the loss is the same
      bits with or without it.

    Returns the loss (a NumPy scalar, or per-row losses for ``reduction="none"``), then the
    gradient of that loss with the logits' shape when ``return_grad=True`` (``out`` receives
    it; it may be ``logits`` itself), then the Hessian's diagonal when ``return_hessian=True``,
    then the argmax when ``return_argmax=True``.

    >>> import numpy as np, fusedloss
    >>> round(float(fusedloss.softmax_cross_entropy(np.array([[3.2, 5.1, -1.7]]), [0])), 4)
    2.0404
    >>> loss, argmax = fusedloss.softmax_cross_entropy(
    ...     np.array([[3.2, 5.1, -1.7]]), [0], label_smoothing=0.1, return_argmax=True)
    >>> round(float(loss), 4), argmax.tolist()
    (2.1404, [1])
    """
    return_grad = check.check_flag(return_grad, "return_grad")
    return_argmax = check.check_flag(return_argmax, "return_argmax")
    hess_out = None
    if return_hessian is not False:
        return_grad, return_hessian, out, hess_out = check.hessian_request(return_hessian, return_grad, out)
    if (
        return_hessian is False and weight is None and sample_weight is None
        and softcap is None and return_argmax is False and type(ignore_index) is int
        and -0x8000000000000000 <= ignore_index <= 0x7FFFFFFFFFFFFFFF
        and type(reduction) is str and reduction in check.REDUCTIONS
        and type(label_smoothing) is float and label_smoothing == 0.0
        and type(z_loss) is float and z_loss == 0.0
        and _backend._state["backend"] == "native"
    ):
        result = _fast_classification(
            logits, labels, out, threads, return_grad,
            _backend.core.softmax_cross_entropy,  # type: ignore[union-attr]
            (None, None, ignore_index, check.REDUCTIONS[reduction], return_grad),
            (0.0, 0.0, 0.0, False))
        if result is not _NOT_FAST:
            return cast(LossResult, result)
    x, result_dtype, batch_shape, y, class_weight, row_weight, reduction_code, thread_count, out = (
        _classification_inputs(logits, labels, "logits", weight, sample_weight, reduction,
                               return_grad, out, threads, allow_soft=True)
    )
    classes = x.shape[-1]
    ignore = check.check_ignore_index(ignore_index)
    smoothing = check.check_option(label_smoothing, "label_smoothing", 0.0, 1.0)
    z_lambda = check.check_option(z_loss, "z_loss", 0.0)
    cap = None if softcap is None else check.check_option(softcap, "softcap", 0.0, low_open=True)
    if cap is not None and cap < np.finfo(x.dtype).tiny:
        # x / c is computed as x * (1 / c): below the smallest normal number 1 / c overflows
        # (float32: c < ~3e-39 made whole rows NaN)
        raise ValueError(
            f"softcap: expected a number >= {np.finfo(x.dtype).tiny:.6g} (the smallest normal "
            f"{x.dtype}, so that 1 / softcap is finite), got {softcap!r}"
        )
    soft = y.dtype.kind == "f"
    if return_hessian:
        hess_out = check.check_hessian_out(hess_out, out, x.shape, result_dtype, logits, (
            ("labels", labels), ("weight", weight), ("sample_weight", sample_weight)))

    argmax: Optional[np.ndarray] = None
    hessian: Optional[np.ndarray] = None
    if _backend.use_native():
        rows2d = check.as_rows(x)
        kernel_labels = check.as_rows(y) if soft else y
        native = _backend.core.softmax_cross_entropy(  # type: ignore[union-attr]
            rows2d, kernel_labels, class_weight, row_weight, ignore, reduction_code, return_grad,
            _kernel_out(out, x, rows2d), thread_count, smoothing, z_lambda,
            0.0 if cap is None else cap, bool(return_argmax), bool(return_hessian),
            _kernel_out(hess_out, x, rows2d), batch_shape,
        )
        value, gradient, argmax, hessian = native
    else:
        if not soft:
            invalid = (y != ignore) & ((y < 0) | (y >= classes))
            if invalid.any():
                raise check.label_error(y, int(np.argmax(invalid)), classes, batch_shape)
        reference = _reference.softmax_cross_entropy(
            x, y, weight=class_weight, sample_weight=row_weight, ignore_index=ignore,
            reduction=check.reduction_name(reduction), return_grad=return_grad, label_smoothing=smoothing,
            z_loss=z_lambda, softcap=cap, return_hessian=bool(return_hessian),
        )
        value, gradient = reference[:2]
        if return_hessian:
            hessian = reference[2]
        if return_argmax:
            argmax = _reference.argmax_rows(x)
    result = _finish(value, gradient, result_dtype, batch_shape, x.shape, return_grad, out,
                     check.is_partial(reduction), hessian if return_hessian else None, hess_out)
    if not return_argmax:
        return result
    assert argmax is not None
    argmax = np.asarray(argmax, dtype=np.int64).reshape(batch_shape)
    return (*result, argmax) if isinstance(result, tuple) else (result, argmax)
