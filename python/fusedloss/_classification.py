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
from ._losses import (_NOT_FAST, _fast_result, _fast_rows_and_labels, _fast_threads, _finish,
                      _is_common_elementwise, _is_fast_float, _kernel_out)
from ._regression import (Parameter, RegistryEntry, _check_outs, signature_parameters,
                          two_arguments, with_conventions)
from .typing import (ArrayLike, FloatArray, HessianOut, IntArray, Loss, LossAndGrad, LossGradHess,
                     Reduction, Scalar)

__all__ = ["cross_entropy", "multiclass_hinge", "softmax_cross_entropy", "softmax_focal_loss",
           "softmax_kl_divergence"]

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
    ``kernel(*parameters)`` names the C++ kernel (the focal loss at gamma 0 names
    ``"softmax_cross_entropy"``: softmax-CE's kernel, its options off, the same bits); by
    default the entry's name. ``torch(F, x, second, *parameters)``
    returns PyTorch's per-row losses (tests and bench), in either form of the second operand.
    ``probabilities``: the first argument holds probabilities, not logits (the tests draw it
    so, and do not shift it by offsets).

    Softmax cross-entropy's options need three more: ``reference``, its whole float64
    reference where per-row ``terms`` cannot say it (label smoothing weighs each class's term
    by its own class weight, not the row by ``weight[y_i]``), called as
    :func:`_reference.row_loss` without ``terms``; ``class_weight_scales_row(*parameters)``,
    whether ``weight[y_i]`` still only scales row i (Dask folds it into the row weights then);
    ``argmax``, that it takes ``return_argmax`` (the per-row argmax of the first argument,
    appended to the results); and ``check_parameters(parameters, dtype)``, the parameter checks
    that depend on the compute dtype (the softcap's smallest value).
    """

    name: str
    first: str
    second: str
    terms: Optional[Callable[..., _reference.Terms]]
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
    reference: Optional[Callable[..., Any]] = None
    class_weight_scales_row: Optional[Callable[..., bool]] = None
    argmax: bool = False
    check_parameters: Optional[Callable[[Tuple[float, ...], np.dtype], None]] = None
    function: Optional[Callable[..., Any]] = field(default=None, compare=False)

    @property
    def takes_class_weight(self) -> bool:
        return self.takes_labels and self.class_weight

    @property
    def takes_ignore_index(self) -> bool:
        return self.takes_labels and self.ignores

    def scales_rows_by_class_weight(self, parameters: Tuple[Any, ...]) -> bool:
        """Whether ``weight[y_i]`` only scales row i at these parameter values."""
        return self.class_weight_scales_row is None or self.class_weight_scales_row(*parameters)

    def run_reference(self, x: np.ndarray, second: np.ndarray, parameters: Tuple[float, ...], *,
                      soft: bool = False, **options: Any) -> Tuple[Any, Any, Any]:
        """The float64 (value, gradient, Hessian) of this loss: :func:`_reference.row_loss` on
        its terms (``soft``: the soft form's), or its own ``reference``. ``options``: weight,
        sample_weight, ignore_index, reduction, return_grad, return_hessian."""
        takes_labels = self.takes_labels and not soft
        if self.reference is not None:
            return cast(Tuple[Any, Any, Any], self.reference(
                x, second, parameters, takes_labels=takes_labels, **options))
        terms = self.soft_terms if soft else self.terms
        assert terms is not None
        return _reference.row_loss(terms, x, second, parameters, takes_labels=takes_labels,
                                   class_weight_in_mean=self.class_weight_in_mean, **options)


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
                     threads: Any = None, return_argmax: Any = _ABSENT, **keywords: Any) -> Any:
            # The common case first, in a few reads (a (32, 10) call's overhead: see _fast_call)
            if (len(positional) == 2 and not keywords and weight is _ABSENT and sample_weight is None
                    and return_hessian is False and return_argmax is _ABSENT
                    and (return_grad is False or return_grad is True)
                    and (ignore_index is _ABSENT or registered.takes_ignore_index)
                    and type(reduction) is str and reduction in check.REDUCTIONS
                    and _backend._state["backend"] == "native"):
                result = _fast_call(registered, positional[0], positional[1], default_values,
                                    -100 if ignore_index is _ABSENT else ignore_index, reduction,
                                    return_grad, out, threads)
                if result is not _NOT_FAST:
                    return result
            first, second = two_arguments(registered, positional, keywords)
            unknown = [key for key in keywords if key not in names]
            unknown = (["weight"] if weight is not _ABSENT and not registered.takes_class_weight else []) + (
                ["ignore_index"] if ignore_index is not _ABSENT and not registered.takes_ignore_index
                else []) + (
                ["return_argmax"] if return_argmax is not _ABSENT and not registered.argmax
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
                         return_grad, return_hessian, out, threads,
                         False if return_argmax is _ABSENT else return_argmax)

        with_conventions(function, _CONVENTIONS)
        registered = RowLoss(**{**entry.__dict__, "parameters": parameters, "function": function})
        ROW_LOSSES[entry.name] = registered
        return cast(_F, function)

    return decorate


def _fast_call(entry: RowLoss, first: Any, second: Any, parameters: Tuple[float, ...],
               ignore_index: Any, reduction: str, return_grad: bool, out: Any, threads: Any) -> Any:
    """The common case, checked with a few attribute reads (2-d aligned C-contiguous float
    rows; 1-d int64/int32 labels of their length, or targets of their shape and dtype; no
    weights; an int ignore_index): straight to the kernel module, which checks `out`, the labels
    and the threads itself (the same messages, except that an `out` overlapping the second
    operand is not named there). _NOT_FAST otherwise. A (32, 10) float32 softmax-CE call with
    its gradient: 3.4 us here (1.3 us of them in the kernel module), 5.3 us through the
    validated path."""
    count = _fast_threads(threads)
    if count is None or type(first) is not np.ndarray:
        return _NOT_FAST
    if entry.check_parameters is not None:
        entry.check_parameters(parameters, first.dtype)
    core = _backend.core
    soft = entry.soft_kernel is not None and type(second) is np.ndarray and _is_fast_float(second.dtype)
    if entry.takes_labels and not soft:
        if entry.takes_ignore_index:
            if not (type(ignore_index) is int
                    and -0x8000000000000000 <= ignore_index <= 0x7FFFFFFFFFFFFFFF):
                return _NOT_FAST
        else:
            ignore_index = None
        fast = _fast_rows_and_labels(first, second)
        if fast is None:
            return _NOT_FAST
        x, y = fast
        if out is not None and (y is not second or type(out) is not np.ndarray):
            # (converted labels: the kernel module could not see an `out` overlapping the original)
            return _NOT_FAST
        value, gradient = core.row_loss(  # type: ignore[union-attr]
            entry.kernel_name(parameters), x, y, parameters, None, None, ignore_index,
            entry.class_weight_in_mean, check.REDUCTIONS[reduction], return_grad, False, out,
            None, count, None)[:2]
        return _fast_result(value, gradient, x.dtype, return_grad)
    if not _is_common_elementwise(first, second, out, reduction) or first.ndim != 2:
        return _NOT_FAST
    value, gradient = core.row_loss(  # type: ignore[union-attr]
        entry.soft_kernel if soft else entry.kernel_name(parameters), first, second, parameters,
        None, None, None, entry.class_weight_in_mean, check.REDUCTIONS[reduction], return_grad,
        False, out, None, count, None)[:2]
    return _fast_result(value, gradient, first.dtype, return_grad)


def _call(entry: RowLoss, first: Any, second: Any, parameters: Tuple[float, ...], weight: Any,
          sample_weight: Any, ignore_index: Any, reduction: Any, return_grad: Any,
          return_hessian: Any, out: Any, threads: Any, return_argmax: Any) -> LossResult:
    return_grad = check.check_flag(return_grad, "return_grad")
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    return_argmax = check.check_flag(return_argmax, "return_argmax")
    if (weight is None and sample_weight is None and not return_hessian and not return_argmax
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
    ignore: Optional[int] = None
    # The form of the second operand: labels, or rows of targets (always, or as the soft form
    # of labels given as floats).
    soft = (entry.soft_kernel is not None
            and check.is_float_dtype(check.as_array(second, entry.second).dtype))
    takes_labels = entry.takes_labels and not soft
    if takes_labels:
        operand = check.check_labels(second, batch_shape, entry.second)
        if entry.takes_ignore_index:
            ignore = check.check_ignore_index(ignore_index)
    elif soft:
        operand = check.check_soft_targets(second, x.shape, x.dtype, entry.second, entry.first)
    else:
        targets, _ = check.as_float_array(second, entry.second)
        if targets.shape != x.shape:
            raise ValueError(f"{entry.second}: expected the shape of {entry.first} {x.shape}, "
                             f"got {targets.shape}")
        operand = targets.astype(x.dtype, copy=False)
    # (the soft form takes the class weights of the labels form: softmax-CE's w_j t_ij)
    class_weight = (check.check_weight_vector(weight, classes, "weight", "one weight per class")
                    if entry.takes_class_weight else None)
    row_weight = check.check_weight_vector(sample_weight, rows, "sample_weight", "one weight per row")
    reduction_code = check.check_reduction(reduction)
    thread_count = check.check_threads(threads)
    if entry.check_parameters is not None:
        entry.check_parameters(parameters, x.dtype)
    others = ((entry.second, second), ("weight", weight), ("sample_weight", sample_weight))
    out, hess_out = _check_outs(out, return_grad, return_hessian, first, others, x.shape,
                                result_dtype)

    hessian = argmax = None
    if _backend.use_native() and x.size:
        kernel = entry.soft_kernel if soft else entry.kernel_name(parameters)
        rows2d = check.as_rows(x)
        second_kernel = operand if takes_labels else check.as_rows(operand)
        value, gradient, hessian, argmax = _backend.core.row_loss(  # type: ignore[union-attr]
            kernel, rows2d, second_kernel, parameters, class_weight, row_weight, ignore,
            entry.class_weight_in_mean, reduction_code, return_grad, bool(return_hessian),
            _kernel_out(out, x, rows2d), _kernel_out(hess_out, x, rows2d), thread_count,
            batch_shape, bool(return_argmax))
    else:
        if takes_labels:
            invalid = (operand < 0) | (operand >= classes)
            if ignore is not None:
                invalid &= operand != ignore
            if invalid.any():
                raise check.label_error(operand, int(np.argmax(invalid)), classes, batch_shape,
                                        entry.second)
        value, gradient, hessian = entry.run_reference(
            x, operand, parameters, soft=soft, weight=class_weight, sample_weight=row_weight,
            ignore_index=ignore, reduction=check.reduction_name(reduction),
            return_grad=return_grad, return_hessian=bool(return_hessian))
        if return_argmax:
            argmax = _reference.argmax_rows(x)
    result = _finish(value, gradient, result_dtype, batch_shape, x.shape, return_grad, out,
                     check.is_partial(reduction), hessian if return_hessian else None, hess_out)
    if not return_argmax:
        return result
    argmax = np.asarray(argmax, dtype=np.int64).reshape(batch_shape)
    return (*result, argmax) if isinstance(result, tuple) else (result, argmax)


# ----------------------------------------------------------------------------- the losses
# Each public function's signature is its documentation and its type; @row_loss makes it run.
# Its Dask twin, bench rows and test rows come from the same entry.


def _torch_softmax_cross_entropy(F: Any, x: Any, second: Any, smoothing: float, z_loss: float,
                                 softcap: float) -> Any:
    # labels, or soft targets (F.cross_entropy takes class probabilities as the target too)
    z = (x / softcap).tanh() * softcap if softcap else x
    return (F.cross_entropy(z, second, label_smoothing=smoothing, reduction="none")
            + z_loss * z.logsumexp(-1) ** 2)


def _check_softcap(parameters: Tuple[float, ...], dtype: np.dtype) -> None:
    """x / c is computed as x * (1 / c): below the smallest normal number 1 / c overflows
    (float32: c < ~3e-39 made whole rows NaN)."""
    softcap = parameters[2]
    if softcap == 0.0:  # off
        return
    # (bfloat16 has float32's exponent range)
    tiny = np.finfo(dtype if dtype.kind == "f" else np.float32).tiny
    if softcap < tiny:
        raise ValueError(
            f"softcap: expected a number >= {tiny:.6g} (the smallest normal "
            f"{dtype}, so that 1 / softcap is finite), got {softcap!r}")


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


@row_loss(RowLoss(
    "softmax_cross_entropy", "logits", "labels", None,
    soft_kernel="softmax_cross_entropy",
    parameters=(Parameter("label_smoothing", low=0.0, high=1.0), Parameter("z_loss", low=0.0),
                Parameter("softcap", low=0.0, low_open=True, off=0.0)),
    torch=_torch_softmax_cross_entropy,
    examples=((0.0, 0.0, 0.0), (0.1, 0.0, 0.0), (0.0, 1e-2, 0.0), (0.0, 0.0, 4.0),
              (0.2, 1e-3, 6.0)),
    reference=_reference.softmax_cross_entropy_rows,
    class_weight_scales_row=lambda label_smoothing, z_loss, softcap: label_smoothing == 0.0,
    argmax=True,
    check_parameters=_check_softcap,
))
def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, weight: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, z_loss: float = 0.0, softcap: Optional[float] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_argmax: bool = False,
    out: Any = None, threads: Optional[int] = None, return_hessian: bool = False,
) -> Any:
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
    raise AssertionError("replaced by @row_loss")


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


def _torch_cross_entropy(F: Any, p: Any, second: Any, eps: float) -> Any:
    if second.is_floating_point():  # soft targets: -sum_j t_j log(p_j + eps), 0 where t_j = 0
        terms = second * (p + eps).log()
        return -terms.where(second != 0, terms.new_zeros(())).sum(-1)
    return -(p.gather(-1, second.unsqueeze(-1)).squeeze(-1) + eps).log()


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
