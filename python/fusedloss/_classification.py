"""The row-wise losses of the registry, one entry each.

A row-wise loss (classes on the last axis, one loss per row) is written in three places, each
once: its per-row maths as a kernel policy (``csrc/kernels/classification_losses.inl``, run by
the row driver ``row_loss_driver.inl``), its float64 reference (``_reference.py``, the test
oracle and the numpy backend), and its entry here. The entry -- name, kernel, reference, second
operand (integer labels or a float row per row), parameters and their checks, "mean"
denominator rule, peers -- drives the public function (``@row_loss`` builds it from the
signature it decorates), its Dask twin (:mod:`fusedloss.dask`), its ``fusedloss bench`` rows and
the test tables (``tests/test_classification_losses.py`` parametrises over :data:`ROW_LOSSES`).

Every row-wise loss has the conventions of the classification losses (SPEC "Conventions" and
"More losses"): logits ``(..., C)``, the batch shape ``(...)`` for labels, ``sample_weight``
one per row, ``reduction``, ``return_grad``, ``return_hessian``, ``out``, ``threads``; with
labels also ``weight`` (per class) and ``ignore_index``. One path per call: a cheap check of
the common case (2-d C-contiguous rows, 1-d integer labels or targets of their shape, no
weights) goes straight to the kernel; anything else is validated and converted, then runs the
same kernel (or the NumPy reference). The kernel raises its own errors (a label outside
``[0, C)`` names its value and row).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Literal, Optional, Tuple, TypeVar, Union, cast, overload

import numpy as np

from . import _backend, _reference
from . import _validation as check
from ._losses import (_NOT_FAST, _fast_classification, _fast_result, _fast_threads, _finish,
                      _is_common_elementwise, _is_fast_float, _kernel_out, softmax_cross_entropy)
from ._regression import (Parameter, RegistryEntry, _check_outs, signature_parameters,
                          two_arguments, with_conventions)
from .typing import (ArrayLike, FloatArray, HessianOut, Loss, LossAndGrad, LossGradHess, Reduction,
                     Scalar)

__all__ = ["cross_entropy", "multiclass_hinge", "softmax_focal_loss", "softmax_kl_divergence"]

LossResult = Union[np.floating, np.ndarray, Tuple[Any, ...]]
_Result = Union[Loss, LossAndGrad, Tuple[Loss, FloatArray, FloatArray]]
_F = TypeVar("_F", bound=Callable[..., Any])
_ABSENT: Any = object()

_CONVENTIONS = """
    Shapes: the first argument ``(..., C)`` (``N`` rows in all); ``sample_weight`` ``(N,)``
    weighs each row. Returns the loss (a NumPy scalar, or per-row losses of the batch shape for
    ``reduction="none"``); with ``return_grad=True`` ``(loss, grad)``, with
    ``return_hessian=True`` ``(loss, grad, hess)`` (``hess`` the diagonal of the Hessian, with
    the gradient's reduction factor). ``out`` receives the gradient (it may be the first
    argument itself), or with ``return_hessian`` is ``None`` or a pair ``(grad_out,
    hess_out)``. ``threads`` caps the threads of this call; the results are the same bits for
    any thread count.
"""


@dataclass(frozen=True)
class RowLoss(RegistryEntry):
    """One row-wise loss: everything the package needs to know about it.

    ``terms(rows, second, *parameters)`` is the float64 per-row (loss, gradient, Hessian) of the
    counted rows (``second``: their labels, or their rows of targets). ``takes_labels``: the
    second operand is integer labels, else a float array of the first's shape. With labels,
    ``class_weight`` says whether the loss takes ``weight`` (one per class, scaling row i by
    ``weight[y_i]``) and ``ignores`` whether it takes ``ignore_index``; ``soft_kernel`` and
    ``soft_terms``, where given, are the kernel and float64 terms of a second form of the
    second operand: float "labels" of the first's shape are soft targets (the cross-entropy of
    probabilities). ``class_weight_in_mean``: "mean" divides by the summed ``weight[y_i]``
    (softmax-CE's rule, torch's), else by the rows (or summed sample weights).
    ``kernel(*parameters)`` names the C++ kernel (``"softmax_cross_entropy"``: that function
    runs the call, e.g. the focal loss at gamma 0). ``torch(F, x, second, *parameters)``
    returns PyTorch's per-row losses (tests and bench). ``probabilities``: the first argument
    holds probabilities, not logits (the tests draw it so, and do not shift it by offsets).
    """

    name: str
    first: str
    second: str
    terms: Callable[..., _reference.Terms]
    takes_labels: bool = True
    class_weight: bool = True
    ignores: bool = True
    soft_kernel: Optional[str] = None
    soft_terms: Optional[Callable[..., _reference.Terms]] = None
    probabilities: bool = False
    class_weight_in_mean: bool = True
    parameters: Tuple[Parameter, ...] = ()
    kernel: Optional[Callable[..., str]] = None
    torch: Optional[Callable[..., Any]] = None
    # Parameter values the tests and bench sweep (each a tuple of this loss's parameters).
    examples: Tuple[Tuple[float, ...], ...] = ((),)
    function: Optional[Callable[..., Any]] = field(default=None, compare=False)

    @property
    def takes_class_weight(self) -> bool:
        return self.takes_labels and self.class_weight

    @property
    def takes_ignore_index(self) -> bool:
        return self.takes_labels and self.ignores


#: Every row-wise loss by name, in the order they were registered.
ROW_LOSSES: Dict[str, RowLoss] = {}


def row_loss(entry: RowLoss) -> Callable[[_F], _F]:
    """Registers ``entry`` and makes the decorated signature its public function (its body is
    never run): its keyword parameters that are not the common ones are the loss's parameters,
    with their defaults."""

    def decorate(signature_function: _F) -> _F:
        parameters = signature_parameters(entry, signature_function)
        names = tuple(parameter.name for parameter in parameters)
        default_values = tuple(parameter.default for parameter in parameters)

        @functools.wraps(signature_function)
        def function(*positional: Any, weight: Any = _ABSENT, sample_weight: Any = None,
                     ignore_index: Any = _ABSENT, reduction: Any = "mean",
                     return_grad: Any = False, return_hessian: Any = False, out: Any = None,
                     threads: Any = None, **keywords: Any) -> Any:
            first, second = two_arguments(registered, positional, keywords)
            unknown = [key for key in keywords if key not in names]
            unknown = (["weight"] if weight is not _ABSENT and not registered.takes_class_weight else []) + (
                ["ignore_index"] if ignore_index is not _ABSENT and not registered.takes_ignore_index
                else []) + unknown
            if unknown:
                raise TypeError(f"{entry.name}() got an unexpected keyword argument {unknown[0]!r}")
            values = (tuple(parameter.check(keywords[parameter.name]) if parameter.name in keywords
                            else parameter.default for parameter in parameters)
                      if keywords else default_values)
            if registered.takes_ignore_index:
                ignore_index = -100 if ignore_index is _ABSENT else ignore_index
            return _call(registered, first, second, values,
                         None if weight is _ABSENT else weight, sample_weight,
                         None if ignore_index is _ABSENT else ignore_index, reduction,
                         return_grad, return_hessian, out, threads)

        with_conventions(function, _CONVENTIONS)
        registered = RowLoss(**{**entry.__dict__, "parameters": parameters, "function": function})
        ROW_LOSSES[entry.name] = registered
        return cast(_F, function)

    return decorate


def _fast_call(entry: RowLoss, first: Any, second: Any, parameters: Tuple[float, ...],
               ignore_index: Any, reduction: str, return_grad: bool, out: Any, threads: Any) -> Any:
    """The common case, checked with a few attribute reads as softmax_cross_entropy's (2-d
    aligned C-contiguous float rows; 1-d int64/int32 labels of their length, or targets of
    their shape and dtype; no weights; an int ignore_index): straight to the kernel module,
    which checks `out`, the labels and the threads itself (the same messages, except that an
    `out` overlapping the second operand is not named there). _NOT_FAST otherwise (a (32, 10)
    focal call took 17 us through the validated path, 4.7 us here)."""
    kernel = entry.kernel_name(parameters)
    if kernel == "softmax_cross_entropy":
        return _NOT_FAST  # that function's own fast path, through the validated one here
    code = check.REDUCTIONS[reduction]
    core = _backend.core
    soft = entry.soft_kernel is not None and type(second) is np.ndarray and _is_fast_float(second.dtype)
    if entry.takes_labels and not soft:
        if entry.takes_ignore_index and not (
                type(ignore_index) is int and -0x8000000000000000 <= ignore_index <= 0x7FFFFFFFFFFFFFFF):
            return _NOT_FAST

        def run(x: np.ndarray, y: np.ndarray, kernel_out: Any, count: int) -> Any:
            return core.row_loss(  # type: ignore[union-attr]
                kernel, x, y, parameters, None, None, ignore_index, entry.class_weight_in_mean,
                code, return_grad, False, kernel_out, None, count, None)

        return _fast_classification(first, second, out, threads, return_grad, run, (), ())
    count = _fast_threads(threads)
    if count is None or not _is_common_elementwise(first, second, out, reduction) or first.ndim != 2:
        return _NOT_FAST
    value, gradient, _ = core.row_loss(  # type: ignore[union-attr]
        entry.soft_kernel if soft else kernel, first, second, parameters, None, None, None,
        entry.class_weight_in_mean, code, return_grad, False, out, None, count, None)
    return _fast_result(value, gradient, first.dtype, return_grad)


def _call(entry: RowLoss, first: Any, second: Any, parameters: Tuple[float, ...], weight: Any,
          sample_weight: Any, ignore_index: Any, reduction: Any, return_grad: Any,
          return_hessian: Any, out: Any, threads: Any) -> LossResult:
    return_grad = check.check_flag(return_grad, "return_grad")
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    if (weight is None and sample_weight is None and not return_hessian
            and type(reduction) is str and reduction in check.REDUCTIONS
            and _backend._state["backend"] == "native"):
        result = _fast_call(entry, first, second, parameters, ignore_index, reduction,
                            return_grad, out, threads)
        if result is not _NOT_FAST:
            return cast(LossResult, result)
    return_grad = return_grad or return_hessian
    x, result_dtype = check.as_class_rows(first, entry.first)
    classes = x.shape[-1]
    batch_shape = x.shape[:-1]
    rows = int(np.prod(batch_shape, dtype=np.int64))
    class_weight = None
    ignore: Optional[int] = None
    # The form of the second operand: labels, or rows of targets (always, or as the soft form
    # of labels given as floats).
    soft = (entry.soft_kernel is not None
            and check.is_float_dtype(check.as_array(second, entry.second).dtype))
    takes_labels = entry.takes_labels and not soft
    if takes_labels:
        operand = check.check_labels(second, batch_shape, entry.second)
        if entry.takes_class_weight:
            class_weight = check.check_weight_vector(weight, classes, "weight", "one weight per class")
        if entry.takes_ignore_index:
            ignore = check.check_ignore_index(ignore_index)
    else:
        targets, _ = check.as_float_array(second, entry.second)
        if targets.shape != x.shape:
            form = "soft targets (a float array) must have" if soft else "expected"
            raise ValueError(f"{entry.second}: {form} the shape of {entry.first} {x.shape}, "
                             f"got {targets.shape}")
        operand = targets.astype(x.dtype, copy=False)
    row_weight = check.check_weight_vector(sample_weight, rows, "sample_weight", "one weight per row")
    reduction_code = check.check_reduction(reduction)
    thread_count = check.check_threads(threads)
    others = ((entry.second, second), ("weight", weight), ("sample_weight", sample_weight))
    out, hess_out = _check_outs(out, return_grad, return_hessian, first, others, x.shape,
                                result_dtype)

    kernel = entry.soft_kernel if soft else entry.kernel_name(parameters)
    terms = entry.soft_terms if soft else entry.terms
    assert kernel is not None and terms is not None
    if kernel == "softmax_cross_entropy":
        # The loss equals softmax cross-entropy at these parameters: run that function, so
        # that it is the same bits (its small-C and long-row paths included).
        return cast(LossResult, softmax_cross_entropy(
            first, operand.reshape(batch_shape), weight=class_weight, sample_weight=row_weight,
            ignore_index=cast(int, ignore), reduction=reduction, return_grad=return_grad,
            return_hessian=bool(return_hessian),
            out=(out, hess_out) if return_hessian else out, threads=threads))

    hessian = None
    if _backend.use_native() and x.size:
        rows2d = check.as_rows(x)
        second_kernel = operand if takes_labels else check.as_rows(operand)
        value, gradient, hessian = _backend.core.row_loss(  # type: ignore[union-attr]
            kernel, rows2d, second_kernel, parameters, class_weight, row_weight, ignore,
            entry.class_weight_in_mean, reduction_code, return_grad, bool(return_hessian),
            _kernel_out(out, x, rows2d), _kernel_out(hess_out, x, rows2d), thread_count,
            batch_shape)
    else:
        if takes_labels:
            invalid = (operand < 0) | (operand >= classes)
            if ignore is not None:
                invalid &= operand != ignore
            if invalid.any():
                raise check.label_error(operand, int(np.argmax(invalid)), classes, batch_shape,
                                        entry.second)
        value, gradient, hessian = _reference.row_loss(
            terms, x, operand, parameters, takes_labels=takes_labels,
            weight=class_weight, sample_weight=row_weight, ignore_index=ignore,
            class_weight_in_mean=entry.class_weight_in_mean,
            reduction=check.reduction_name(reduction), return_grad=return_grad,
            return_hessian=bool(return_hessian))
    return _finish(value, gradient, result_dtype, batch_shape, x.shape, return_grad, out,
                   check.is_partial(reduction), hessian if return_hessian else None, hess_out)


# ----------------------------------------------------------------------------- the losses
# Each public function's signature is its documentation and its type; @row_loss makes it run.
# Its Dask twin, bench rows and test rows come from the same entry.


def _torch_focal(F: Any, x: Any, labels: Any, gamma: float) -> Any:
    log_p = F.log_softmax(x, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return -((1 - log_p.exp()) ** gamma) * log_p


def _torch_kl(F: Any, x: Any, target_logits: Any, temperature: float) -> Any:
    return F.kl_div(F.log_softmax(x / temperature, dim=-1),
                    F.log_softmax(target_logits / temperature, dim=-1),
                    log_target=True, reduction="none").sum(-1)


@row_loss(RowLoss(
    "softmax_focal_loss", "logits", "labels", _reference.softmax_focal_terms,
    parameters=(Parameter("gamma", low=0.0),),
    kernel=lambda gamma: "softmax_focal_loss" if gamma != 0.0 else "softmax_cross_entropy",
    torch=_torch_focal,
    examples=((2.0,), (0.5,), (1.0,), (0.0,), (3.5,)),
))
def softmax_focal_loss(
    logits: ArrayLike, labels: ArrayLike, *, gamma: float = 2.0,
    weight: Optional[ArrayLike] = None, sample_weight: Optional[ArrayLike] = None,
    ignore_index: int = -100, reduction: Reduction = "mean", return_grad: bool = False,
    return_hessian: bool = False, out: Any = None, threads: Optional[int] = None,
) -> _Result:
    r"""Focal loss on the softmax (Lin et al., multiclass): ``-(1 - p_y)^gamma log p_y`` per
    row, ``p = softmax(logits)``; ``gamma = 0`` is :func:`softmax_cross_entropy` (the same
    bits: that function runs it). ``gamma`` finite and ``>= 0``.

    Gradient ``c (p - onehot(y))`` with ``c = (1 - p_y)^gamma + gamma p_y (1 - p_y)^(gamma-1)
    (-log p_y)``, times the row weight and the reduction's factor; Hessian diagonal
    ``c p (1 - p) + F'' (p - onehot)^2`` (``F`` the loss as a function of ``-log p_y``).
    ``weight`` ``(C,)``, ``ignore_index`` and the ``"mean"`` denominator mean what they mean in
    :func:`softmax_cross_entropy` (``"mean"`` divides by the summed ``weight[y_i] *
    sample_weight[i]`` of the rows not ignored; nothing to average gives 0).

    >>> import numpy as np, fusedloss
    >>> x = np.array([[3.2, 5.1, -1.7]])
    >>> round(float(fusedloss.softmax_focal_loss(x, [1], gamma=2.0)), 6)
    0.002407
    >>> float(fusedloss.softmax_focal_loss(x, [0], gamma=0.0)) == float(fusedloss.softmax_cross_entropy(x, [0]))
    True
    """
    raise AssertionError("replaced by @row_loss")


@row_loss(RowLoss(
    "softmax_kl_divergence", "logits", "target_logits", _reference.softmax_kl_terms,
    takes_labels=False, class_weight_in_mean=False,
    parameters=(Parameter("temperature", low=0.0, low_open=True),),
    torch=_torch_kl,
    examples=((1.0,), (2.0,), (0.5,)),
))
def softmax_kl_divergence(
    logits: ArrayLike, target_logits: ArrayLike, *, temperature: float = 1.0,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, return_hessian: bool = False, out: Any = None,
    threads: Optional[int] = None,
) -> _Result:
    r"""Distillation loss: ``KL(q || p) = sum_j q_j (log q_j - log p_j)`` per row, with
    ``p = softmax(logits / T)`` (the student) and ``q = softmax(target_logits / T)`` (the
    teacher), both softmaxes computed in one pass over the two arrays: no probability array is
    ever in memory. ``torch.nn.functional.kl_div(log_softmax(x / T), log_softmax(t / T),
    log_target=True)`` summed per row; ``"mean"`` divides by the rows (PyTorch's
    ``reduction="batchmean"``), or the summed ``sample_weight``. A teacher logit of ``-inf``
    gives ``q_j = 0`` and adds nothing. ``temperature`` finite and ``> 0``; ``x / T`` is
    computed as ``x * (1 / T)``. (Hinton's distillation multiplies this loss by ``T**2``; do so
    outside if you want it.)

    Gradient w.r.t. ``logits``: ``(p - q) / T``; Hessian diagonal ``p (1 - p) / T^2`` (times
    the row weight and the reduction's factor). ``target_logits`` has the logits' shape and is
    converted to their dtype.

    >>> import numpy as np, fusedloss
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> float(fusedloss.softmax_kl_divergence(x, x))
    0.0
    >>> loss, grad = fusedloss.softmax_kl_divergence(x, np.array([[3.0, 2.0, 1.0]]), return_grad=True)
    >>> round(float(loss), 6), grad.round(6).tolist()
    (1.150421, [[-0.57521, 0.0, 0.57521]])
    """
    raise AssertionError("replaced by @row_loss")


def _torch_hinge(F: Any, x: Any, labels: Any, margin: float, squared: float) -> Any:
    # The formula, not F.multi_margin_loss (fusedloss's divided by C): PyTorch has no double
    # backward for that function, and the tests take the Hessian from one.
    terms = (x - x.gather(-1, labels.unsqueeze(-1)) + margin).clamp(min=0.0)
    terms = terms.masked_fill(F.one_hot(labels, x.shape[-1]).bool(), 0.0)  # no term at y
    return (terms**2 if squared else terms).sum(-1)


def _torch_cross_entropy(F: Any, p: Any, labels: Any, eps: float) -> Any:
    return -(p.gather(-1, labels.unsqueeze(-1)).squeeze(-1) + eps).log()


@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Scalar: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> FloatArray: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction, return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Loss: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool, return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> LossGradHess: ...
@overload
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = ..., squared: bool = ..., weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: bool, out: Any = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad, LossGradHess]: ...
@row_loss(RowLoss(
    "multiclass_hinge", "scores", "labels", _reference.multiclass_hinge_terms,
    ignores=False, class_weight_in_mean=False,
    parameters=(Parameter("margin"), Parameter("squared", flag=True)),
    kernel=lambda margin, squared: "multiclass_hinge_squared" if squared else "multiclass_hinge",
    torch=_torch_hinge,
    examples=((1.0, 0.0), (1.0, 1.0), (0.5, 1.0), (2.0, 0.0)),
))
def multiclass_hinge(
    scores: ArrayLike, labels: ArrayLike, *, margin: float = 1.0, squared: bool = False,
    weight: Optional[ArrayLike] = None, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, out: Any = None,
    threads: Optional[int] = None, return_hessian: bool = False,
) -> Any:
    r"""Multiclass hinge loss (Weston-Watkins multiclass SVM).

    ``loss_i = sum_{j != y_i} max(0, s_ij - s_{i,y_i} + margin)`` (each term squared when
    ``squared=True``). Gradient: for ``j != y_i`` ``1[term > 0]`` (squared: ``2 * term``);
    for ``j = y_i`` minus the sum of the others. Not divided by ``C``: PyTorch's
    ``F.multi_margin_loss`` equals this loss divided by ``C``. ``weight`` ``(C,)`` scales row
    ``i`` by ``weight[y_i]``; ``"mean"`` divides by ``N`` (or the summed ``sample_weight``).

    Shapes: ``scores`` ``(..., C)``, ``labels`` ``(...)`` (any integer dtype, in ``[0, C)``);
    ``weight`` ``(C,)``, ``sample_weight`` ``(N,)`` per row (``N`` rows in all). Returns the loss
    (a NumPy scalar, or per-row losses of the batch shape for ``reduction="none"``), then with
    ``return_grad=True`` its gradient with the scores' shape (``out`` receives it; it may be
    ``scores`` itself).

    ``return_hessian=True`` (implies the gradient) appends the diagonal of the Hessian of the
    returned loss w.r.t. the scores: 0 for the plain hinge (piecewise linear); with
    ``squared=True`` ``2`` at each active term ``j != y_i`` (``s_ij - s_{i,y_i} + margin > 0``)
    and ``2 x`` (the number of active terms) at the label, times the row weight and the
    reduction's factor (not divided by ``C``, as the loss). ``out`` is then a pair
    ``(grad_out, hess_out)`` (either may be None).

    >>> import numpy as np, fusedloss
    >>> s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    >>> fusedloss.multiclass_hinge(s, [0, 1, 2], reduction="none").round(4).tolist()
    [2.9, 0.0, 12.9]
    >>> loss, grad = fusedloss.multiclass_hinge(s[:1], [0], return_grad=True)
    >>> round(float(loss), 4), grad.tolist()
    (2.9, [[-1.0, 1.0, 0.0]])
    """
    raise AssertionError("replaced by @row_loss")


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
@row_loss(RowLoss(
    "cross_entropy", "probs", "labels", _reference.cross_entropy_terms,
    class_weight=False, ignores=False, class_weight_in_mean=False, probabilities=True,
    soft_kernel="cross_entropy_soft_targets", soft_terms=_reference.cross_entropy_soft_terms,
    parameters=(Parameter("eps", low=0.0),),
    torch=_torch_cross_entropy,
    examples=((1e-7,), (0.0,), (0.25,)),
))
def cross_entropy(
    probs: ArrayLike, labels: ArrayLike, *, eps: float = 1e-7,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, out: Any = None, threads: Optional[int] = None,
    return_hessian: bool = False,
) -> Any:
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
    raise AssertionError("replaced by @row_loss")
