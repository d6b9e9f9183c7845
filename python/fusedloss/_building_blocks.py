"""Building blocks: softmax / log_softmax / logsumexp along the last axis, and weight
penalties (L2, L1, elastic net) for ``L(W) = data loss + lam * R(W)``."""

from __future__ import annotations

from typing import Any, Literal, Optional, Tuple, Union, cast, overload

import numpy as np

from . import _backend, _reference
from . import _validation as check
from .typing import ArrayLike, FloatArray, Loss, Scalar

PenaltyResult = Union[Scalar, Tuple[Scalar, FloatArray]]

_ROW_MODES = {"logsumexp": 0, "softmax": 1, "log_softmax": 2}
_PENALTY_KINDS = {"l2": 0, "l1": 1, "elastic_net": 2}


def _row_op(x: ArrayLike, mode: str, out: Optional[np.ndarray], threads: Optional[int]) -> Any:
    array, result_dtype = check.as_float_array(x, "x")
    if array.ndim < 1:
        raise ValueError("x: expected an array of shape (..., C), got a 0-d array")
    batch_shape = array.shape[:-1]
    result_shape = batch_shape if mode == "logsumexp" else array.shape
    thread_count = check.check_threads(threads)
    out = check.check_out(out, True, result_shape, result_dtype)
    check.check_out_aliasing(out, x, ())

    if array.shape[-1] == 0:
        # An empty class axis: the empty result, whatever the backend (logsumexp: the
        # identity of logaddexp, -inf per row, as np.logaddexp.reduce and SciPy give).
        result = (np.full(result_shape, -np.inf, dtype=np.float64) if mode == "logsumexp"
                  else np.empty(result_shape, dtype=np.float64))
    elif _backend.use_native():
        rows2d = check.as_rows(array)
        kernel_out = None
        if out is not None and out.dtype == rows2d.dtype:
            kernel_out = out.reshape(-1) if mode == "logsumexp" else out.reshape(rows2d.shape)
        result = _backend.core.row_softmax(  # type: ignore[union-attr]
            rows2d, _ROW_MODES[mode], kernel_out, thread_count
        )
    else:
        result = getattr(_reference, mode)(array)
    result = np.asarray(result).reshape(result_shape)
    if out is not None:
        if result is not out and not np.shares_memory(result, out):
            np.copyto(out, result, casting="unsafe")
        return out
    result = result.astype(result_dtype, copy=False)
    return result[()] if result.ndim == 0 else result


def logsumexp(x: ArrayLike, *, out: Optional[FloatArray] = None,
              threads: Optional[int] = None) -> Loss:
    r"""``log(sum_j exp(x_j))`` along the last axis, computed stably.

    ``lse(x) = m + log(sum_j exp(x_j - m))`` with ``m = max_j x_j`` (the shift is used only
    when ``m`` is finite: a row of all ``-inf`` gives ``-inf``, a row holding ``+inf`` gives
    ``+inf``; NaN in a row gives NaN for that row only). Its gradient is ``softmax(x)``.

    Shapes: ``x`` ``(..., C)``; the result has the batch shape ``(...)`` (a NumPy scalar for
    1-d ``x``) and ``x``'s dtype. An empty class axis (``C = 0``) gives ``-inf`` per row (the
    sum of no exponentials is 0), as ``np.logaddexp.reduce`` and SciPy do. ``out`` (of the batch shape and the result
    dtype, C-contiguous) receives the result and is returned. ``threads``: OpenMP threads
    (``None``: the default); the result does not depend on it.

    >>> import numpy as np, fusedloss
    >>> fusedloss.logsumexp(np.array([[0.0, 0.0], [1.0, -np.inf]])).round(4).tolist()
    [0.6931, 1.0]
    """
    result: Loss = _row_op(x, "logsumexp", out, threads)
    return result


def softmax(x: ArrayLike, *, out: Optional[FloatArray] = None,
            threads: Optional[int] = None) -> FloatArray:
    r"""``exp(x_j - logsumexp(x))`` along the last axis: each row sums to 1.

    Computed as ``exp(x_j - m) / sum_k exp(x_k - m)`` with the finite row max ``m``. A
    ``-inf`` entry has probability 0 while the row has a finite entry. Jacobian:
    ``d s_i / d x_j = s_i (delta_ij - s_j)``.

    Shapes: ``x`` ``(..., C)``; the result has ``x``'s shape and dtype (an empty class axis
    gives the empty result). ``out`` (same shape and result dtype, C-contiguous; it may be
    ``x`` itself) receives the result.

    >>> import numpy as np, fusedloss
    >>> fusedloss.softmax(np.array([0.0, np.log(3.0), -np.inf])).round(4).tolist()
    [0.25, 0.75, 0.0]
    """
    result: FloatArray = _row_op(x, "softmax", out, threads)
    return result


def log_softmax(x: ArrayLike, *, out: Optional[FloatArray] = None,
                threads: Optional[int] = None) -> FloatArray:
    r"""``x_j - logsumexp(x)`` along the last axis (the log of :func:`softmax`, computed
    without forming ``log`` of small probabilities). Jacobian: ``delta_ij - softmax(x)_j``.

    Shapes: ``x`` ``(..., C)``; the result has ``x``'s shape and dtype (an empty class axis
    gives the empty result). ``out`` (same shape and result dtype, C-contiguous; it may be
    ``x`` itself) receives the result.

    >>> import numpy as np, fusedloss
    >>> fusedloss.log_softmax(np.array([0.0, np.log(3.0)])).round(4).tolist()
    [-1.3863, -0.2877]
    """
    result: FloatArray = _row_op(x, "log_softmax", out, threads)
    return result


def _nonnegative_finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    number = check.as_float(value, name)
    if not np.isfinite(number) or number < 0.0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {number}")
    return number


def _penalty(w: ArrayLike, kind: str, lam: Any, beta: Any, return_grad: bool,
             out: Optional[np.ndarray], accumulate: bool, threads: Optional[int]) -> PenaltyResult:
    array, result_dtype = check.as_float_array(w, "w")
    lam_value = _nonnegative_finite(lam, "lam")
    beta_value = _nonnegative_finite(beta, "beta")
    thread_count = check.check_threads(threads)
    accumulate = check.check_flag(accumulate, "accumulate")
    return_grad = check.check_flag(return_grad, "return_grad")
    if accumulate and out is None:
        raise ValueError("accumulate=True adds the gradient into out: pass out (and return_grad=True)")
    out = check.check_out(out, return_grad, array.shape, result_dtype)
    check.check_out_aliasing(out, w, ())

    if _backend.use_native():
        weights = array if array.flags.c_contiguous and array.flags.aligned else np.array(array, order="C", copy=True)
        kernel_out = out if out is not None and out.dtype == weights.dtype else None
        value, gradient = _backend.core.penalty(  # type: ignore[union-attr]
            weights, _PENALTY_KINDS[kind], lam_value, beta_value, bool(return_grad),
            accumulate and kernel_out is not None, kernel_out, thread_count,
        )
    else:
        kernel_out = None
        value, gradient = _reference.penalty(array, kind, lam_value, beta_value, bool(return_grad))
    with np.errstate(over="ignore"):  # a float64 sum beyond float32's range is inf, as asked
        loss: Scalar = result_dtype.type(value)
    if not return_grad:
        return loss
    assert gradient is not None
    gradient = np.asarray(gradient).reshape(array.shape)
    # (the numpy backend's float64 gradient beyond float32's range rounds to inf, as the kernels')
    with np.errstate(over="ignore", invalid="ignore"):
        if out is None:
            return loss, gradient.astype(result_dtype, copy=False)
        if gradient is not out and not np.shares_memory(gradient, out):
            if accumulate:
                np.add(out, gradient, out=out, casting="unsafe")
            else:
                np.copyto(out, gradient, casting="unsafe")
    return loss, out


@overload
def l2_penalty(w: ArrayLike, lam: float, *, return_grad: Literal[False] = ..., out: None = ...,
               accumulate: Literal[False] = ..., threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Scalar: ...
@overload
def l2_penalty(w: ArrayLike, lam: float, *, return_grad: Literal[True],
               out: Optional[FloatArray] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Tuple[Scalar, FloatArray]: ...
@overload
def l2_penalty(w: ArrayLike, lam: float, *, return_grad: bool,
               out: Optional[FloatArray] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> PenaltyResult: ...
@overload
def l2_penalty(w: ArrayLike, lam: float, *, return_grad: bool = ...,
               out: Optional[Tuple[Optional[FloatArray], Optional[FloatArray]]] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[True]) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def l2_penalty(w: ArrayLike, lam: float, *, return_grad: bool = ...,
               out: Any = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: bool) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]: ...


def l2_penalty(w: ArrayLike, lam: float, *, return_grad: bool = False,
               out: Any = None, accumulate: bool = False,
               threads: Optional[int] = None, return_hessian: bool = False,
               ) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]:
    r"""L2 (ridge / weight decay) penalty ``lam * sum(w**2)``; gradient ``2 * lam * w``.

    ``w``: any shape. ``lam`` must be finite and ``>= 0`` (``ValueError`` otherwise). Returns
    a NumPy scalar of ``w``'s dtype (summed in float64), or ``(value, gradient)`` with
    ``return_grad=True``; the gradient has ``w``'s shape. ``out`` (``w``'s shape and dtype,
    C-contiguous) receives the gradient; with ``accumulate=True`` the gradient is added to
    ``out``'s contents (e.g. a data-loss gradient already there) instead of overwriting them.

    >>> import numpy as np, fusedloss
    >>> value, grad = fusedloss.l2_penalty(np.array([1.0, -2.0]), 0.5, return_grad=True)
    >>> float(value), grad.tolist()
    (2.5, [1.0, -2.0])
    """
    if return_hessian is not False and check.check_flag(return_hessian, "return_hessian"):
        return _penalty_with_hessian(w, "l2", lam, 0.0, out, accumulate, threads)
    return _penalty(w, "l2", lam, 0.0, return_grad, out, accumulate, threads)


@overload
def l1_penalty(w: ArrayLike, lam: float, *, return_grad: Literal[False] = ..., out: None = ...,
               accumulate: Literal[False] = ..., threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Scalar: ...
@overload
def l1_penalty(w: ArrayLike, lam: float, *, return_grad: Literal[True],
               out: Optional[FloatArray] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Tuple[Scalar, FloatArray]: ...
@overload
def l1_penalty(w: ArrayLike, lam: float, *, return_grad: bool,
               out: Optional[FloatArray] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> PenaltyResult: ...
@overload
def l1_penalty(w: ArrayLike, lam: float, *, return_grad: bool = ...,
               out: Optional[Tuple[Optional[FloatArray], Optional[FloatArray]]] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[True]) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def l1_penalty(w: ArrayLike, lam: float, *, return_grad: bool = ...,
               out: Any = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: bool) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]: ...


def l1_penalty(w: ArrayLike, lam: float, *, return_grad: bool = False,
               out: Any = None, accumulate: bool = False,
               threads: Optional[int] = None, return_hessian: bool = False,
               ) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]:
    r"""L1 (lasso) penalty ``lam * sum(|w|)``; (sub)gradient ``lam * sign(w)``, 0 at ``w = 0``.

    ``w``: any shape. ``lam`` must be finite and ``>= 0`` (``ValueError`` otherwise). Returns
    a NumPy scalar of ``w``'s dtype (summed in float64), or ``(value, gradient)`` with
    ``return_grad=True``. ``out`` receives the gradient; ``accumulate=True`` adds it to
    ``out``'s contents instead (requires ``out``).

    >>> import numpy as np, fusedloss
    >>> value, grad = fusedloss.l1_penalty(np.array([1.0, -2.0, 0.0]), 0.5, return_grad=True)
    >>> float(value), grad.tolist()
    (1.5, [0.5, -0.5, 0.0])
    """
    if return_hessian is not False and check.check_flag(return_hessian, "return_hessian"):
        return _penalty_with_hessian(w, "l1", lam, 0.0, out, accumulate, threads)
    return _penalty(w, "l1", lam, 0.0, return_grad, out, accumulate, threads)


@overload
def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: Literal[False] = ..., out: None = ...,
                        accumulate: Literal[False] = ..., threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Scalar: ...
@overload
def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: Literal[True],
                        out: Optional[FloatArray] = ..., accumulate: bool = ...,
                        threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> Tuple[Scalar, FloatArray]: ...
@overload
def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: bool,
                        out: Optional[FloatArray] = ..., accumulate: bool = ...,
                        threads: Optional[int] = ..., return_hessian: Literal[False] = ...) -> PenaltyResult: ...
@overload
def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: bool = ...,
               out: Optional[Tuple[Optional[FloatArray], Optional[FloatArray]]] = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: Literal[True]) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: bool = ...,
               out: Any = ..., accumulate: bool = ...,
               threads: Optional[int] = ..., return_hessian: bool) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]: ...


def elastic_net_penalty(w: ArrayLike, lam: float, beta: float, *, return_grad: bool = False,
                        out: Any = None, accumulate: bool = False,
                        threads: Optional[int] = None, return_hessian: bool = False,
               ) -> Union[PenaltyResult, Tuple[Scalar, FloatArray, FloatArray]]:
    r"""Elastic-net penalty ``lam * sum(beta * w**2 + |w|)``; gradient
    ``lam * (2 * beta * w + sign(w))`` (``sign(0) = 0``).

    ``w``: any shape. ``lam`` and ``beta`` must be finite and ``>= 0`` (``ValueError``
    otherwise). Returns a NumPy scalar of ``w``'s dtype (summed in float64), or
    ``(value, gradient)`` with ``return_grad=True``. ``out`` receives the gradient;
    ``accumulate=True`` adds it to ``out``'s contents instead (requires ``out``).

    >>> import numpy as np, fusedloss
    >>> value, grad = fusedloss.elastic_net_penalty(np.array([1.0, -2.0]), 0.5, 0.25,
    ...                                             return_grad=True)
    >>> float(value), grad.tolist()
    (2.125, [0.75, -1.0])

    ``return_hessian=True`` (every penalty): ``(value, gradient, hessian)``, the Hessian's
    diagonal, constant: ``2 * lam`` (L2), ``0`` (L1, also at 0), ``2 * lam * beta`` (elastic
    net). ``out`` is then a pair ``(grad_out, hess_out)`` (either may be None); with
    ``accumulate=True`` both are added into.
    """
    if return_hessian is not False and check.check_flag(return_hessian, "return_hessian"):
        return _penalty_with_hessian(w, "elastic_net", lam, beta, out, accumulate, threads)
    return _penalty(w, "elastic_net", lam, beta, return_grad, out, accumulate, threads)


def _hessian_factor(kind: str, lam: float, beta: float) -> float:
    """The constant diagonal of ``lam sum(a w^2 + b |w|)``'s Hessian: ``2 lam a``."""
    return {"l2": 2.0 * lam, "l1": 0.0, "elastic_net": 2.0 * lam * beta}[kind]


def _penalty_with_hessian(w: ArrayLike, kind: str, lam: Any, beta: Any, out: Any,
                          accumulate: Any, threads: Optional[int]) -> Tuple[Scalar, FloatArray, FloatArray]:
    """A penalty with ``return_hessian=True``: the value and gradient of _penalty and the
    constant diagonal Hessian (``2 lam a`` for ``lam sum(a w^2 + b |w|)``); ``out`` a pair."""

    grad_out, hess_out = check.split_out(out, True)
    array, result_dtype = check.as_float_array(w, "w")
    # hess_out checked before _penalty writes grad_out
    hess_out = check.check_hessian_out(hess_out, None, array.shape, result_dtype, w, (("out[0] (grad_out)", grad_out),))
    value, gradient = cast(Tuple[Scalar, FloatArray],
                           _penalty(w, kind, lam, beta, True, grad_out, accumulate, threads))
    constant = _hessian_factor(kind, _nonnegative_finite(lam, "lam"), _nonnegative_finite(beta, "beta"))
    with np.errstate(over="ignore"):
        if hess_out is None:
            hessian: FloatArray = np.full(array.shape, constant, dtype=result_dtype)
        elif accumulate:
            np.add(hess_out, constant, out=hess_out, casting="unsafe")
            hessian = hess_out
        else:
            hess_out[...] = constant
            hessian = hess_out
    return value, gradient, hessian
