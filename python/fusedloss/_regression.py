"""The elementwise losses, one registry entry each: the regression losses,
``sigmoid_binary_cross_entropy`` and ``sigmoid_focal_loss`` (classification losses, but of one
logit and one target per element).

A loss is written in three places, each once: its pointwise maths as a kernel policy
(``csrc/kernels/regression_losses.inl``), its float64 reference (``_reference.py``, the test
oracle and the numpy backend), and its entry here. The entry -- name, kernel, reference,
parameters and their checks, target domain, peers -- drives the public function (the
``@elementwise_loss`` decorator below builds it from the signature it decorates), its Dask twin
(:mod:`fusedloss.dask`), its ``fusedloss bench`` rows and the test tables
(``tests/test_regression_losses.py`` parametrises over :data:`ELEMENTWISE_LOSSES`).

Every elementwise loss has the conventions of ``mean_squared_error`` (SPEC "Regression" and
"More losses"): any shape, ``target`` broadcast to the first argument's shape and converted to
its dtype, ``sample_weight`` one per sample of the first axis, ``reduction``, ``return_grad``,
``return_hessian``, ``out``, ``threads``. One path per call: a cheap check of the common case
(two aligned C-contiguous arrays of one float dtype and shape, no weights) goes straight to the
kernel; anything else is validated and converted, then runs the same kernel (or the NumPy
reference). The kernel raises its own errors (a target outside the domain names its index).
A loss may declare an element ``weight`` (``operands``): an array broadcast to the first
argument's shape that multiplies each element's loss, gradient and Hessian.
"""

from __future__ import annotations

import functools
import inspect
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Literal, Optional, Tuple, TypeVar, Union, cast, overload

import numpy as np

from . import _backend, _reference
from ._losses import _fast_result, _fast_threads, _finish, _is_common_elementwise
from . import _validation as check
from .typing import (ArrayLike, FloatArray, HessianOut, Loss, LossAndGrad, LossGradHess, Reduction,
                     Scalar)

__all__ = [
    "gamma_loss",
    "sigmoid_binary_cross_entropy",
    "huber_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "pinball_loss",
    "poisson_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "tweedie_loss",
]

LossResult = Union[np.floating, np.ndarray, Tuple[Any, ...]]
_F = TypeVar("_F", bound=Callable[..., Any])


# What every elementwise loss's docstring ends with (the decorator appends it where the
# docstring does not spell the conventions out itself).
_CONVENTIONS = """
    ``target`` broadcasts to the first argument's shape and is converted to its dtype;
    ``sample_weight`` ``(pred.shape[0],)`` weighs each sample of the first axis (``"mean"`` is
    then ``sum_i w_i sum_k l_ik / (K sum_i w_i)``, ``K`` elements per sample). Returns the loss
    (a NumPy scalar, or per-element losses for ``reduction="none"``); with ``return_grad=True``
    ``(loss, grad)``, with ``return_hessian=True`` ``(loss, grad, hess)`` (``hess`` the diagonal
    of the Hessian, with the gradient's reduction factor). ``out`` receives the gradient (it may
    be the first argument itself), or with ``return_hessian`` is ``None`` or a pair
    ``(grad_out, hess_out)``. ``threads`` caps the threads of this call; the results are the
    same bits for any thread count.
"""


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Parameter:
    """A loss parameter: a finite real number in [low, high] (open ends as flagged), optionally
    outside the open interval ``excluded`` (Tweedie's power); or, with ``flag``, a bool (passed
    on as 1.0 or 0.0: the hinge's ``squared``). ``off``: ``None`` is accepted and turns the
    option off, passed on as this value (softmax-CE's ``softcap``, off as 0.0). ``default``
    comes from the public function's signature."""

    name: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    excluded: Optional[Tuple[float, float]] = None
    default: float = 0.0
    flag: bool = False
    off: Optional[float] = None

    def check(self, value: Any) -> float:
        if value is None and self.off is not None:
            return self.off
        if self.flag:
            return 1.0 if check.check_flag(value, self.name) else 0.0
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{self.name}: expected a real number, got {type(value).__name__} "
                            f"{reprlib.repr(value)}")
        number = check.real_number(value, self.name)
        bad = (not math.isfinite(number)
               or (number <= self.low if self.low_open else number < self.low)
               or (number >= self.high if self.high_open else number > self.high)
               or (self.excluded is not None and self.excluded[0] < number < self.excluded[1]))
        if bad:
            raise ValueError(f"{self.name}: expected {self.describe()}, got {value!r}")
        return number

    def describe(self) -> str:
        if self.flag:
            return "a bool"
        if math.isinf(self.low) and math.isinf(self.high):
            text = "a finite number"
        elif math.isinf(self.high):
            text = f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        else:
            text = (f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                    f"{')' if self.high_open else ']'}")
        if self.excluded is not None:
            text += f" outside ({self.excluded[0]:g}, {self.excluded[1]:g})"
        return text

    def public(self, value: float) -> Any:
        """The keyword value that gives ``value`` (a bool for a flag, None for ``off``)."""
        if self.off is not None and value == self.off:
            return None
        return bool(value) if self.flag else value


# ----------------------------------------------------------------------------- element operands
# The broadcast and periodic forms of the element operands (``weight``, ``pos_weight``).


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


# ----------------------------------------------------------------------------- the registry


class RegistryEntry:
    """What every registry entry (elementwise here, row-wise in ``_classification``) answers:
    its kernel's name for given parameter values, and its default parameter values."""

    name: str
    parameters: Tuple[Parameter, ...]
    kernel: Optional[Callable[..., str]]

    def kernel_name(self, parameters: Tuple[float, ...]) -> str:
        return self.kernel(*parameters) if self.kernel is not None else self.name

    def defaults(self) -> Tuple[float, ...]:
        return tuple(parameter.default for parameter in self.parameters)


def signature_parameters(entry: RegistryEntry, signature_function: Callable[..., Any]
                         ) -> Tuple[Parameter, ...]:
    """The entry's parameters with the defaults of the public signature they decorate (the
    signature is their one source)."""
    defaults = {name: p.default for name, p in inspect.signature(signature_function).parameters.items()}
    return tuple(Parameter(**{**parameter.__dict__, "default": parameter.check(defaults[parameter.name])})
                 for parameter in entry.parameters)


def two_arguments(entry: Any, positional: Tuple[Any, ...], keywords: Dict[str, Any]
                  ) -> Tuple[Any, Any]:
    """A registry function's first two arguments, by position or by the names its public
    signature gives them (``logits=``, ``target=``), with Python's own errors otherwise;
    the names are taken out of ``keywords``."""
    names = (entry.first, entry.second)
    if len(positional) == 2 and not (keywords and (names[0] in keywords or names[1] in keywords)):
        return positional[0], positional[1]
    if len(positional) > 2:
        raise TypeError(f"{entry.name}() takes 2 positional arguments but {len(positional)} "
                        "were given")
    for name in names[:len(positional)]:
        if name in keywords:
            raise TypeError(f"{entry.name}() got multiple values for argument {name!r}")
    missing = [name for name in names[len(positional):] if name not in keywords]
    if missing:
        raise TypeError(f"{entry.name}() missing required argument: {missing[0]!r}")
    values = list(positional) + [keywords.pop(name) for name in names[len(positional):]]
    return values[0], values[1]


def with_conventions(function: Callable[..., Any], conventions: str) -> None:
    """Appends the conventions to a public function's docstring unless it spells them out."""
    if "``out``" not in (function.__doc__ or ""):
        function.__doc__ = (function.__doc__ or "") + "\n" + conventions


@dataclass(frozen=True)
class ElementwiseLoss(RegistryEntry):
    """One elementwise loss: everything the package needs to know about it.

    ``terms(x, t, *parameters)`` is the float64 pointwise (loss, gradient, Hessian), gradient
    and Hessian in units of ``unit``. ``kernel(*parameters)`` names the C++ kernel (a loss may
    pick one by parameter: Tweedie's powers 0, 1, 2). ``domain(*parameters)`` gives the targets
    the loss takes, as words and as a test, or None for any target. The peers say how PyTorch
    and scikit-learn compute the same per-element loss (tests and bench):
    ``torch(F, x, t, *parameters)`` returns per-element losses; ``sklearn(*parameters)`` returns
    a ``sklearn._loss`` object whose ``loss``/``gradient`` take ``(y_true, raw_prediction)``.

    ``second`` names the target argument in messages (``"targets"`` for a classification
    loss, as in ``sigmoid_binary_cross_entropy``). ``operands`` names the extra arrays the loss
    takes, each broadcast to the first argument's shape: ``"weight"`` is an element weight
    (multiplying each element's loss, gradient and Hessian; its kernel policy declares
    ``has_element_weight``), any other name (at most one: BCE's ``"pos_weight"``) the loss's
    element parameter (its policy declares ``has_element_parameter``; its ``terms`` take it as a
    keyword). The public function accepts those keywords, no other loss does.
    """

    name: str
    first: str
    terms: Callable[..., _reference.Terms]
    parameters: Tuple[Parameter, ...] = ()
    second: str = "target"
    operands: Tuple[str, ...] = ()
    unit: float = 1.0
    kernel: Optional[Callable[..., str]] = None
    domain: Optional[Callable[..., Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]]] = None
    torch: Optional[Callable[..., Any]] = None
    sklearn: Optional[Callable[..., Any]] = None
    # Parameter values the tests and bench sweep (each a tuple of this loss's parameters).
    examples: Tuple[Tuple[float, ...], ...] = ((),)
    function: Optional[Callable[..., Any]] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # The driver has two extra operands: the element weight and one element parameter.
        if len([name for name in self.operands if name != "weight"]) > 1:
            raise ValueError(f"{self.name}: an elementwise loss takes 'weight' and at most one "
                             f"element parameter, got {self.operands!r}")

    @property
    def element_parameter(self) -> Optional[str]:
        """The name of the loss's element parameter (``"pos_weight"``), or None."""
        return next((name for name in self.operands if name != "weight"), None)


#: Every elementwise loss by name, in the order they were registered.
ELEMENTWISE_LOSSES: Dict[str, ElementwiseLoss] = {}


def elementwise_loss(entry: ElementwiseLoss) -> Callable[[_F], _F]:
    """Registers ``entry`` and makes the decorated signature its public function: the body of
    the decorated function is never run; its keyword parameters between ``target`` and
    ``sample_weight`` are the loss's parameters, with their defaults."""

    def decorate(signature_function: _F) -> _F:
        parameters = signature_parameters(entry, signature_function)
        names = tuple(parameter.name for parameter in parameters)
        default_values = tuple(parameter.default for parameter in parameters)

        @functools.wraps(signature_function)
        def function(*positional: Any, sample_weight: Any = None,
                     reduction: Any = "mean", return_grad: Any = False,
                     return_hessian: Any = False, out: Any = None, threads: Any = None,
                     **keywords: Any) -> Any:
            pred, target = two_arguments(registered, positional, keywords)
            operands: Dict[str, Any] = {}
            if keywords:
                unknown = [key for key in keywords
                           if key not in names and key not in entry.operands]
                if unknown:
                    raise TypeError(
                        f"{entry.name}() got an unexpected keyword argument {unknown[0]!r}")
                values = tuple(parameter.check(keywords.get(parameter.name, parameter.default))
                               for parameter in parameters)
                operands = {name: keywords[name] for name in entry.operands
                            if keywords.get(name) is not None}
            else:
                values = default_values
            return _call(registered, pred, target, values, operands, sample_weight, reduction,
                         return_grad, return_hessian, out, threads)

        with_conventions(function, _CONVENTIONS)
        registered = ElementwiseLoss(**{**entry.__dict__, "parameters": parameters,
                                        "function": function})
        ELEMENTWISE_LOSSES[entry.name] = registered
        return cast(_F, function)

    return decorate


# ----------------------------------------------------------------------------- one call


def _check_outs(out: Any, return_grad: bool, return_hessian: bool, first: Any, others: Any,
                shape: Tuple[int, ...], dtype: np.dtype
                ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(gradient out, Hessian out), checked as every loss checks them: with return_hessian,
    ``out`` is None or a pair."""
    grad_out, hess_out = check.split_out(out, return_hessian)
    grad_out = check.check_out(grad_out, return_grad or return_hessian, shape, dtype)
    check.check_out_aliasing(grad_out, first, others)
    return grad_out, check.check_hessian_out(hess_out, grad_out, shape, dtype, first, others)


def _call(entry: ElementwiseLoss, pred: Any, target: Any, parameters: Tuple[float, ...],
          operands: Dict[str, Any], sample_weight: Any, reduction: Any, return_grad: Any,
          return_hessian: Any, out: Any, threads: Any) -> LossResult:
    """One call of a registered loss; `operands` holds the loss's operand arrays that were
    given (not None)."""
    return_grad = check.check_flag(return_grad, "return_grad")
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    with_gradient = return_grad or return_hessian
    if (not operands and sample_weight is None and not return_hessian
            and _is_common_elementwise(pred, target, out, reduction)):
        count = _fast_threads(threads)
        if count is not None:
            value, gradient, _ = _backend.core.elementwise_loss(  # type: ignore[union-attr]
                entry.kernel_name(parameters), pred, target, None, None, parameters, None,
                pred.size // pred.shape[0], check.REDUCTIONS[reduction], with_gradient, False,
                out, None, count)
            return cast(LossResult, _fast_result(value, gradient, pred.dtype, return_grad))

    p, result_dtype = check.as_float_array(pred, entry.first)
    t_array, _ = check.as_float_array(target, entry.second)
    try:
        broadcast_shape = np.broadcast_shapes(t_array.shape, p.shape)
    except ValueError:
        broadcast_shape = None
    if broadcast_shape != p.shape:
        owner = entry.first + ("'" if entry.first.endswith("s") else "'s")  # logits', pred's
        raise ValueError(f"{entry.second}: expected a shape that broadcasts to {owner} shape "
                         f"{p.shape}, got {t_array.shape}")
    operand_arrays: Dict[str, np.ndarray] = {}
    for name, value in operands.items():
        operand_arrays[name] = _broadcast_operand(value, name, p.shape, p.dtype)
        if not np.isfinite(operand_arrays[name]).all():
            raise ValueError(f"{name}: expected finite values, got NaN or inf")
    samples = p.shape[0] if p.ndim else 1
    row_weight = check.check_weight_vector(
        sample_weight, samples, "sample_weight",
        f"one weight per sample of {entry.first}'s first axis")
    reduction_code = check.check_reduction(reduction)
    thread_count = check.check_threads(threads)
    grad_out, hess_out = _check_outs(out, return_grad, return_hessian, pred,
                                     ((entry.second, target), *operands.items(),
                                      ("sample_weight", sample_weight)),
                                     p.shape, result_dtype)

    # SPEC "Result dtype": the target is converted to the first argument's (compute) dtype
    # first, in both backends (a float64 target with float32 pred is rounded to float32).
    t_array = t_array.astype(p.dtype, copy=False)
    hessian = None
    # An empty array goes to the reference: nothing to compute, and the kernels derive the
    # sample count from size / sample_size, which is 0 for a shape like (3, 0).
    if _backend.use_native() and p.size:
        prediction = check.as_contiguous(p)
        target_c = check.as_contiguous(np.broadcast_to(t_array, p.shape))
        sample_size = max(p.size // samples, 1) if samples else 1
        kernel_grad = grad_out if grad_out is not None and grad_out.dtype == p.dtype else None
        kernel_hess = hess_out if hess_out is not None and hess_out.dtype == p.dtype else None
        # The operands as the driver reads them: one period of an array that repeats along
        # the leading axes (per class, scalar), materialised in the compute dtype only where
        # it varies along the first axis.
        periodic = {name: _periodic_operand(array, p.shape) for name, array in operand_arrays.items()}
        parameter_name = entry.element_parameter
        value, gradient, hessian = _backend.core.elementwise_loss(  # type: ignore[union-attr]
            entry.kernel_name(parameters), prediction, target_c, periodic.get("weight"),
            periodic.get(parameter_name) if parameter_name is not None else None, parameters,
            row_weight, sample_size, reduction_code, with_gradient, return_hessian, kernel_grad,
            kernel_hess, thread_count)
    else:
        _check_domain(entry, parameters, np.broadcast_to(t_array, p.shape))
        value, gradient, hessian = _reference.elementwise_loss(
            entry.terms, p, t_array, parameters, unit=entry.unit, sample_weight=row_weight,
            reduction=check.reduction_name(reduction), return_grad=with_gradient,
            return_hessian=return_hessian, **operand_arrays)
    return _finish(value, gradient, result_dtype, p.shape, p.shape, return_grad, grad_out,
                   check.is_partial(reduction), hessian if return_hessian else None, hess_out)


def _check_domain(entry: ElementwiseLoss, parameters: Tuple[float, ...], target: np.ndarray) -> None:
    """The kernels' domain error, for the numpy backend: the first target outside the domain."""
    domain = entry.domain(*parameters) if entry.domain is not None else None
    if domain is None or target.size == 0:
        return
    words, inside = domain
    outside = ~inside(target) & ~np.isnan(target)
    if outside.any():
        flat = int(np.argmax(outside.ravel()))
        index = tuple(int(i) for i in np.unravel_index(flat, target.shape))
        raise ValueError(f"target: expected {words}, got {float(target.ravel()[flat])!r} "
                         f"at index {index}")


def _nonnegative(t: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, t >= 0)


def _positive(t: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, t > 0)


def _tweedie_kernel(power: float) -> str:
    return {0.0: "tweedie_loss_power_0", 1.0: "poisson_loss", 2.0: "gamma_loss"}.get(power, "tweedie_loss")


def _tweedie_domain(power: float) -> Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    if power <= 0.0:
        return None
    return ("target >= 0", _nonnegative) if power < 2.0 else ("target > 0", _positive)


def _sigmoid_focal_kernel(alpha: float, gamma: float) -> str:
    """gamma 0 (BCE) and 2 (the default: q q, no pow) have kernels of their own."""
    return {0.0: "sigmoid_focal_loss_gamma_0", 2.0: "sigmoid_focal_loss_gamma_2"}.get(
        gamma, "sigmoid_focal_loss")


def _torch_sigmoid_focal_loss(F: Any, x: Any, t: Any, alpha: float, gamma: float) -> Any:
    """torchvision.ops.sigmoid_focal_loss(reduction="none"), its code in PyTorch (the tests'
    and bench's peer; torchvision itself is not a dependency)."""
    p = x.sigmoid()
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def _sklearn_loss(name: str, **parameters: Any) -> Any:
    from sklearn._loss import loss as sklearn_loss  # type: ignore[import-untyped]  # a peer

    return getattr(sklearn_loss, name)(**parameters)


# ----------------------------------------------------------------------------- the losses
# Each public function's signature is its documentation and its type; @elementwise_loss makes
# it run. Its Dask twin, bench rows and test rows come from the same entry.

_Result = Union[Loss, LossAndGrad, Tuple[Loss, FloatArray, FloatArray]]


@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ...,
    return_hessian: Literal[False] = ..., out: None = ..., threads: Optional[int] = ...,
) -> Scalar: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ...,
    return_hessian: Literal[False] = ..., out: None = ..., threads: Optional[int] = ...,
) -> FloatArray: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction, return_grad: Literal[False] = ..., return_hessian: Literal[False] = ...,
    out: None = ..., threads: Optional[int] = ...,
) -> Loss: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True],
    return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray]: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_hessian: Literal[False] = ...,
    out: Optional[FloatArray] = ..., threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray]: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_hessian: Literal[False] = ...,
    out: Optional[FloatArray] = ..., threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray]: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: Literal[True],
    out: Optional[Tuple[Optional[FloatArray], Optional[FloatArray]]] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray, FloatArray]: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool, return_hessian: Literal[False] = ...,
    out: Optional[FloatArray] = ..., threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad]: ...
@overload
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: bool,
    out: Any = ..., threads: Optional[int] = ...,
) -> _Result: ...


@elementwise_loss(ElementwiseLoss(
    "mean_squared_error", "pred", _reference.squared_error_terms, unit=2.0,
    torch=lambda F, x, t: F.mse_loss(x, t, reduction="none"),
    sklearn=lambda: _sklearn_loss("HalfSquaredError"),  # half of it: the tests double it
))
def mean_squared_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_hessian: bool = False,
    out: Any = None, threads: Optional[int] = None,
) -> _Result:
    r"""Mean squared error over all elements (``torch.nn.functional.mse_loss``'s meaning).

    ``loss = (1/n) sum (pred - target)^2``; gradient ``2 (pred - target) / n``; Hessian
    ``2 / n``. ``target`` broadcasts to ``pred``'s shape and is converted to ``pred``'s dtype
    first (a float64 target with float32 ``pred`` is rounded to float32, as every other float
    input is converted to the result dtype). ``sample_weight`` ``(pred.shape[0],)``: one
    weight per sample of the first axis; ``"mean"`` is then
    ``sum_i w_i sum_k l_ik / (K sum_i w_i)`` with ``K`` elements per sample.

    Shapes: ``pred`` any shape (``n`` elements); ``target`` broadcasts to it. Returns the loss
    (a NumPy scalar, or per-element losses of ``pred``'s shape for ``reduction="none"``), then
    with ``return_grad=True`` its gradient with ``pred``'s shape (``out`` receives it; it may be
    ``pred`` itself), and with ``return_hessian=True`` ``(loss, grad, hess)``, ``hess`` the
    diagonal of the Hessian with the gradient's reduction factor (``out`` is then ``None`` or a
    pair ``(grad_out, hess_out)``, either ``None``).

    >>> import numpy as np, fusedloss
    >>> p = np.array([0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0])
    >>> round(float(fusedloss.mean_squared_error(p, np.eye(10)[2])), 4)
    0.0195
    >>> loss, grad = fusedloss.mean_squared_error([1.0, 2.0], [0.0, 0.0], return_grad=True)
    >>> float(loss), grad.tolist()
    (2.5, [1.0, 2.0])
    """
    raise AssertionError("replaced by @elementwise_loss")




@elementwise_loss(ElementwiseLoss(
    "mean_absolute_error", "pred", _reference.absolute_error_terms,
    torch=lambda F, x, t: F.l1_loss(x, t, reduction="none"),
    sklearn=lambda: _sklearn_loss("AbsoluteError"),
))
def mean_absolute_error(
    pred: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_hessian: bool = False,
    out: Any = None, threads: Optional[int] = None,
) -> _Result:
    """Mean absolute error (``torch.nn.functional.l1_loss``): ``|pred - target|`` per element,
    gradient ``sign(pred - target)`` (0 at a tie), Hessian 0.

    >>> import fusedloss
    >>> loss, grad = fusedloss.mean_absolute_error([1.0, 2.0, 3.0], [1.5, 2.0, 1.0], return_grad=True)
    >>> round(float(loss), 4), grad.round(4).tolist()
    (0.8333, [-0.3333, 0.0, 0.3333])
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "huber_loss", "pred", _reference.huber_terms, parameters=(Parameter("delta", low=0.0),),
    torch=lambda F, x, t, delta: F.huber_loss(x, t, delta=delta, reduction="none"),
    sklearn=None,  # HuberLoss takes delta as a quantile of the residuals, not as a value
    examples=((1.0,), (0.25,), (0.0,)),
))
def huber_loss(
    pred: ArrayLike, target: ArrayLike, *, delta: float = 1.0,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, return_hessian: bool = False, out: Any = None,
    threads: Optional[int] = None,
) -> _Result:
    """Huber loss (``torch.nn.functional.huber_loss``): with ``d = pred - target``,
    ``d^2 / 2`` where ``|d| <= delta``, else ``delta (|d| - delta / 2)``; gradient
    ``clip(d, -delta, delta)``; Hessian 1 where ``|d| <= delta``, else 0. ``delta >= 0``.

    >>> import fusedloss
    >>> loss, grad = fusedloss.huber_loss([0.0, 0.0], [0.5, 3.0], reduction="none", return_grad=True)
    >>> loss.tolist(), grad.tolist()
    ([0.125, 2.5], [-0.5, -1.0])
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "smooth_l1_loss", "pred", _reference.smooth_l1_terms, parameters=(Parameter("beta", low=0.0),),
    kernel=lambda beta: "smooth_l1_loss" if beta > 0 else "mean_absolute_error",  # beta = 0: |d|
    torch=lambda F, x, t, beta: F.smooth_l1_loss(x, t, beta=beta, reduction="none"),
    examples=((1.0,), (0.3,), (0.0,)),
))
def smooth_l1_loss(
    pred: ArrayLike, target: ArrayLike, *, beta: float = 1.0,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, return_hessian: bool = False, out: Any = None,
    threads: Optional[int] = None,
) -> _Result:
    """Smooth L1 loss (``torch.nn.functional.smooth_l1_loss``): ``d^2 / (2 beta)`` where
    ``|d| < beta``, else ``|d| - beta / 2`` (``beta = 0``: ``|d|``); gradient ``d / beta`` or
    ``sign(d)``; Hessian ``1 / beta`` inside, 0 outside. ``beta >= 0``.

    >>> import fusedloss
    >>> loss, grad, hess = fusedloss.smooth_l1_loss([0.0, 0.0], [0.5, 3.0], beta=2.0,
    ...                                             reduction="none", return_hessian=True)
    >>> loss.tolist(), grad.tolist(), hess.tolist()
    ([0.0625, 2.0], [-0.25, -1.0], [0.5, 0.0])
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "pinball_loss", "pred", _reference.pinball_terms,
    parameters=(Parameter("quantile", low=0.0, high=1.0, low_open=True, high_open=True),),
    sklearn=lambda quantile: _sklearn_loss("PinballLoss", quantile=quantile),
    examples=((0.5,), (0.1,), (0.9,)),
))
def pinball_loss(
    pred: ArrayLike, target: ArrayLike, *, quantile: float = 0.5,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, return_hessian: bool = False, out: Any = None,
    threads: Optional[int] = None,
) -> _Result:
    """Pinball (quantile) loss, scikit-learn's ``PinballLoss`` / ``mean_pinball_loss``:
    ``q max(target - pred, 0) + (1 - q) max(pred - target, 0)``; gradient ``1 - q`` where
    ``pred > target``, else ``-q`` (a tie included); Hessian 0. ``quantile`` in (0, 1).

    >>> import fusedloss
    >>> loss, grad = fusedloss.pinball_loss([1.0, 3.0], [2.0, 2.0], quantile=0.9,
    ...                                     reduction="none", return_grad=True)
    >>> loss.round(6).tolist(), grad.round(6).tolist()
    ([0.9, 0.1], [-0.9, 0.1])
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "poisson_loss", "raw", _reference.poisson_terms,
    domain=lambda: ("target >= 0", _nonnegative),
    torch=lambda F, x, t: F.poisson_nll_loss(x, t, log_input=True, full=False, reduction="none"),
    sklearn=lambda: _sklearn_loss("HalfPoissonLoss"),
))
def poisson_loss(
    raw: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_hessian: bool = False,
    out: Any = None, threads: Optional[int] = None,
) -> _Result:
    """Poisson deviance with a log link: ``exp(raw) - target raw`` per element
    (``torch.nn.functional.poisson_nll_loss(log_input=True, full=False)``; scikit-learn's
    ``HalfPoissonLoss`` less its constant); gradient ``exp(raw) - target``; Hessian
    ``exp(raw)``. Targets ``>= 0`` (else ``ValueError`` naming the first bad one).

    >>> import numpy as np, fusedloss
    >>> loss, grad, hess = fusedloss.poisson_loss([0.0, np.log(2.0)], [1.0, 3.0],
    ...                                           reduction="none", return_hessian=True)
    >>> loss.round(6).tolist(), grad.round(6).tolist(), hess.round(6).tolist()
    ([1.0, -0.079442], [0.0, -1.0], [1.0, 2.0])
    >>> fusedloss.poisson_loss([0.0, 0.0], [1.0, -1.0])
    Traceback (most recent call last):
    ...
    ValueError: target: expected target >= 0, got -1.0 at index (1,)
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "gamma_loss", "raw", _reference.gamma_terms,
    domain=lambda: ("target > 0", _positive),
    sklearn=lambda: _sklearn_loss("HalfGammaLoss"),
))
def gamma_loss(
    raw: ArrayLike, target: ArrayLike, *, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_hessian: bool = False,
    out: Any = None, threads: Optional[int] = None,
) -> _Result:
    """Gamma deviance with a log link: ``raw + target exp(-raw)`` per element (scikit-learn's
    ``HalfGammaLoss`` less its constant); gradient ``1 - target exp(-raw)``; Hessian
    ``target exp(-raw)``. Targets ``> 0``.

    >>> import fusedloss
    >>> fusedloss.gamma_loss([0.0, 1.0], [1.0, 2.0], reduction="none").round(6).tolist()
    [1.0, 1.735759]
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "tweedie_loss", "raw", _reference.tweedie_terms,
    parameters=(Parameter("power", excluded=(0.0, 1.0)),),
    kernel=_tweedie_kernel, domain=_tweedie_domain,
    sklearn=lambda power: _sklearn_loss("HalfTweedieLoss", power=power),
    examples=((1.5,), (0.0,), (1.0,), (2.0,), (3.0,), (-0.5,), (1.2,)),
))
def tweedie_loss(
    raw: ArrayLike, target: ArrayLike, *, power: float = 1.5,
    sample_weight: Optional[ArrayLike] = None, reduction: Reduction = "mean",
    return_grad: bool = False, return_hessian: bool = False, out: Any = None,
    threads: Optional[int] = None,
) -> _Result:
    """Tweedie deviance with a log link, scikit-learn's ``HalfTweedieLoss(power)`` per element:
    ``exp((2-p) raw) / (2-p) - target exp((1-p) raw) / (1-p)``, at ``p = 0``
    ``(exp(raw) - target)^2 / 2``, at 1 ``poisson_loss``, at 2 ``gamma_loss``. ``power`` finite
    and outside (0, 1); targets: any for ``p <= 0``, ``>= 0`` for ``1 <= p < 2``, ``> 0`` for
    ``p >= 2``.

    >>> import fusedloss
    >>> fusedloss.tweedie_loss([0.0, 0.0], [1.0, 2.0], power=1.5, reduction="none").tolist()
    [4.0, 6.0]
    """
    raise AssertionError("replaced by @elementwise_loss")


# ----------------------------------------------------------------------------- classification
# The classification losses of one logit and one target per element: BCE's shape rules, the
# registry's conventions, an element `weight` (the driver's), and BCE's `pos_weight` (the
# loss's element parameter).


def _torch_binary_cross_entropy(F: Any, x: Any, t: Any) -> Any:
    return F.binary_cross_entropy_with_logits(x, t, reduction="none")


@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Scalar: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> FloatArray: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction, return_grad: Literal[False] = ..., return_hessian: Literal[False] = ..., out: None = ...,
    threads: Optional[int] = ...,
) -> Loss: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: Literal[True], return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Loss, FloatArray]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool, return_hessian: Literal[False] = ..., out: Optional[FloatArray] = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["mean", "sum"] = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[Scalar, FloatArray, FloatArray]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Literal["none"], return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> Tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: Literal[True], out: Optional[HessianOut] = ...,
    threads: Optional[int] = ...,
) -> LossGradHess: ...
@overload
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = ..., pos_weight: Optional[ArrayLike] = ...,
    sample_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ..., return_grad: bool = ..., return_hessian: bool, out: Any = ...,
    threads: Optional[int] = ...,
) -> Union[Loss, LossAndGrad, LossGradHess]: ...
@elementwise_loss(ElementwiseLoss(
    "sigmoid_binary_cross_entropy", "logits", _reference.sigmoid_bce_terms, second="targets",
    operands=("weight", "pos_weight"),
    torch=_torch_binary_cross_entropy,
    sklearn=lambda: _sklearn_loss("HalfBinomialLoss"),
))
def sigmoid_binary_cross_entropy(
    logits: ArrayLike, targets: ArrayLike, *, weight: Optional[ArrayLike] = None,
    pos_weight: Optional[ArrayLike] = None, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, out: Any = None,
    threads: Optional[int] = None, return_hessian: bool = False,
) -> Any:
    r"""Sigmoid binary cross-entropy on logits (``F.binary_cross_entropy_with_logits``).

    Per element, with ``p = pos_weight`` (1 when absent) and ``w = weight`` (1 when absent):
    ``loss = w * ((1 - t) x + (1 + (p - 1) t) (log1p(exp(-|x|)) + max(-x, 0)))``, which is
    ``max(x, 0) - x t + log1p(exp(-|x|))`` without ``pos_weight``: finite for any finite ``x``.
    Gradient: ``w * ((1 - t) - (1 + (p - 1) t) sigmoid(-x))`` (``sigmoid(x) - t`` without
    ``pos_weight``), times the sample weight and the reduction's factor.

    Shapes: ``logits`` any shape; ``targets`` (converted to the logits' dtype, not range
    checked), ``weight`` (element weights) and ``pos_weight`` (e.g. ``(C,)`` per class of the
    last axis, or a scalar) broadcast to the logits' shape, as in PyTorch. The native kernels
    read a weight that repeats along the leading axes (per class, scalar) from one short
    pattern, and copy ``weight``/``pos_weight`` to the logits' full shape only when it varies
    along the first axis.
    ``sample_weight`` ``(logits.shape[0],)``: one weight per sample of the first axis;
    ``"mean"`` is ``sum_i w_i sum_k l_ik / (K sum_i w_i)`` with ``K`` elements per sample (0
    when the denominator is 0). ``reduction="none"`` returns one loss per element.

    ``return_hessian=True`` (implies the gradient) appends the second derivative per element,
    ``w * (1 + (p - 1) t) * sigmoid(x) * sigmoid(-x)``, times the sample weight and the
    reduction's factor (scikit-learn's ``HalfBinomialLoss`` hessian without weights); ``out``
    is then a pair ``(grad_out, hess_out)`` (either may be None). Without it ``out`` receives
    the gradient (it may be ``logits`` itself); ``threads`` caps the threads of this call, the
    results the same bits for any thread count.

    >>> import numpy as np, fusedloss
    >>> x = np.array([[1.0, -2.0], [0.5, 3.0]]); t = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(fusedloss.sigmoid_binary_cross_entropy(x, t)), 6)
    0.365714
    >>> fusedloss.sigmoid_binary_cross_entropy([1e30, -1e30], [0.0, 0.5], reduction="none").tolist()
    [1e+30, 5e+29]
    """
    raise AssertionError("replaced by @elementwise_loss")


@elementwise_loss(ElementwiseLoss(
    "sigmoid_focal_loss", "logits", _reference.sigmoid_focal_terms, second="targets",
    parameters=(Parameter("alpha"), Parameter("gamma", low=0.0)),
    operands=("weight",),
    kernel=_sigmoid_focal_kernel,
    torch=_torch_sigmoid_focal_loss,
    examples=((0.25, 2.0), (0.25, 0.0), (-1.0, 0.5), (0.5, 1.0), (0.75, 3.5)),
))
def sigmoid_focal_loss(
    logits: ArrayLike, targets: ArrayLike, *, alpha: float = 0.25, gamma: float = 2.0,
    weight: Optional[ArrayLike] = None, sample_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean", return_grad: bool = False, return_hessian: bool = False,
    out: Any = None, threads: Optional[int] = None,
) -> _Result:
    """Sigmoid focal loss (``torchvision.ops.sigmoid_focal_loss``) per element: with
    ``p = sigmoid(logits)``, ``ce`` the BCE with logits (``max(x, 0) - x t + log1p(exp(-|x|))``)
    and ``p_t = p t + (1 - p)(1 - t)``, ``ce (1 - p_t)^gamma``, times
    ``alpha t + (1 - alpha)(1 - t)`` when ``alpha >= 0`` (``alpha < 0``: no alpha weighting).
    The exact gradient and Hessian diagonal in the logits, stable at any logit (``1 - p`` is
    ``sigmoid(-x)``, never 1 minus a rounded ``p``). ``gamma`` finite and ``>= 0`` (0: BCE
    times the alpha weighting); ``alpha`` any finite number. ``targets`` any reals (soft
    targets; not range checked, as BCE's), broadcast to the logits' shape; a ``q = 1 - p_t``
    below 0 (a target outside [0, 1]) takes a fractional ``gamma`` to NaN, as ``pow`` does.

    ``weight`` is ``sigmoid_binary_cross_entropy``'s (PyTorch's
    ``binary_cross_entropy_with_logits``): an array broadcast to the logits' shape (per class
    ``(C,)``, a scalar, or full) that multiplies each element's loss, gradient and Hessian;
    ``"mean"`` still divides by the element count (``K sum(sample_weight)`` with sample
    weights), as torchvision's ``loss.mean()``.

    >>> import fusedloss
    >>> loss, grad = fusedloss.sigmoid_focal_loss([2.0, -1.0], [1.0, 0.0], reduction="none",
    ...                                           return_grad=True)
    >>> loss.round(6).tolist(), grad.round(6).tolist()
    ([0.000451, 0.016994], [-0.001218, 0.039436])
    """
    raise AssertionError("replaced by @elementwise_loss")
