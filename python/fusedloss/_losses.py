"""What every public loss function shares (the registries' ``_regression`` and
``_classification`` build them): the checks of the common case that goes straight to the
kernels, and the result as returned (the loss in the result dtype, the gradient and Hessian in
``out`` or new arrays)."""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple, Union, cast

import numpy as np

from . import _backend
from . import _validation as check

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
