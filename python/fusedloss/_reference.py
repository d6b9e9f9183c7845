"""NumPy reference implementation of every loss: float64 throughout, written for clarity.

It is the fallback when the extension is unavailable (or ``set_backend("numpy")``) and the
oracle of the test suite. Each function takes already-validated inputs (see ``_validation``)
and returns ``(value, gradient)`` in float64: ``value`` is a float for ``"sum"``/``"mean"`` and
an array of the batch shape for ``"none"``; ``gradient`` is ``None`` unless asked for.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Tuple, TypeVar, Union, cast

import numpy as np

Value = Union[float, np.ndarray]
_Function = TypeVar("_Function", bound=Callable[..., Any])


def _quiet(function: _Function) -> _Function:
    """NaN/inf in the inputs propagate as IEEE arithmetic says, without NumPy's floating-point
    warnings (the native kernels give the same numbers silently; under warnings-as-errors a
    warning would turn a NaN answer into an exception on the numpy backend only)."""

    @functools.wraps(function)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return function(*args, **kwargs)

    return cast(_Function, quiet)


def _reduce(weighted: np.ndarray, denominator: float, reduction: str) -> Tuple[Value, float]:
    """(value, gradient scale) for weighted per-row losses; nothing to average gives 0."""
    if reduction == "none":
        return weighted, 1.0
    total = float(weighted.sum())
    if reduction == "sum":
        return total, 1.0
    if denominator == 0.0:
        return 0.0, 0.0
    return total / denominator, 1.0 / denominator


def _shifted_rows(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(shift, x - shift, exp(x - shift), its row sum) (keepdims); the shift is the row max
    only where it is finite (a row of -inf keeps lse = -inf, a row holding +inf lse = +inf)."""
    maximum = x.max(axis=-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,))
    shift = np.where(np.isfinite(maximum), maximum, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x - shift
        exponentials = np.exp(shifted)
        total = exponentials.sum(axis=-1, keepdims=True)
    return shift, shifted, exponentials, total


def logsumexp_rows(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(lse, softmax) of each row."""
    shift, _, exponentials, total = _shifted_rows(x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lse = shift + np.log(total)
        softmax = exponentials / total
    return lse[..., 0], softmax


def log_softmax_rows(x: np.ndarray) -> np.ndarray:
    """log softmax of each row as ``(x - m) - log sum exp(x - m)``.

    Not ``x - lse``: lse = m + log S rounds to the precision of m, so at |x| ~ 1e30 (float64)
    or 1e8 (float32) the log-probabilities would lose every digit (SPEC "Accuracy at any
    offset")."""
    _, shifted, _, total = _shifted_rows(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: np.ndarray = shifted - np.log(total)
    return result


def argmax_rows(x: np.ndarray) -> np.ndarray:
    """Per-row argmax along the last axis (np.argmax: first index on ties, NaN wins)."""
    x = np.asarray(x)
    argmax: np.ndarray = np.argmax(x.reshape(-1, x.shape[-1]), axis=1).astype(np.int64)
    return argmax


@_quiet
def softmax_cross_entropy(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    weight: Optional[np.ndarray] = None,
    sample_weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    return_grad: bool = False,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: Optional[float] = None,
    return_hessian: bool = False,
    hessian_terms: bool = False,
) -> Tuple[Any, ...]:
    """Integer labels, or float soft targets of the logits' shape.

    With ``return_hessian=True`` the result is ``(value, gradient, hessian)``: the diagonal of
    the Hessian of the returned loss w.r.t. the logits (see _softmax_hessian); with
    ``hessian_terms`` also ``(M, q, k)`` (times the reduction's factor, 0 on ignored rows): the
    full Hessian w.r.t. the raw logits is ``diag(M) - k q q^T``, so a linear layer's input
    Hessian diagonal is ``M @ W**2 - k (q @ W)**2`` (linear_cross_entropy).

    Written from the formulas: with z the (soft-capped) logits, log p = z - lse, per row
    loss_i = sum_j a_ij (-log p_ij) + z_loss * lse_i^2 (times the row weight), where the
    target weights a_ij are (1 - eps) w_y [j = y] + (eps / C) w_j for labels and
    w_j ((1 - eps) t_ij + eps / C) for soft targets.

    Zero weights multiply (SPEC "Zero weights and NaN", PyTorch's rule): the row weight
    (sample_weight, and w_y for labels) and the class weights of the smoothing part multiply
    the unweighted row loss, so a NaN or infinite loss stays NaN under a weight of 0. The only
    terms that count 0 are those of a soft target a_ij = 0 (0 log 0 = 0, e.g. at a -inf
    logit); a soft-target row of zeros still gives NaN where its log-normaliser is not finite.
    Ignored rows add nothing.
    """
    x = np.asarray(logits, dtype=np.float64)
    classes = x.shape[-1]
    raw = x.reshape(-1, classes)
    n = raw.shape[0]
    if softcap is not None:
        tanh = np.tanh(raw / softcap)
        rows = softcap * tanh
    else:
        tanh = None
        rows = raw
    lse, softmax = logsumexp_rows(rows)
    class_w = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    sample_w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    eps = float(label_smoothing)
    labels = np.asarray(labels)
    soft = labels.dtype.kind == "f"
    index = np.arange(n)
    with np.errstate(invalid="ignore", over="ignore"):
        negative_log_p = -log_softmax_rows(rows)
        if soft:
            t = labels.reshape(-1, classes).astype(np.float64)
            kept = np.ones(n, dtype=bool)
            targets = class_w[None, :] * ((1.0 - eps) * t + eps / classes)
            target_weight = targets * sample_w[:, None]
            z_weight = sample_w
            denominator = float(sample_w.sum())
            # a_ij = 0 terms count 0 (0 log 0 = 0); a row of zeros is 0 * log-normaliser
            unweighted = np.where(targets != 0.0, targets * negative_log_p, 0.0).sum(axis=1)
            unweighted = np.where((targets != 0.0).any(axis=1), unweighted, 0.0 * lse)
            losses = sample_w * unweighted
        else:
            y = labels.reshape(-1).astype(np.int64)
            kept = y != ignore_index
            safe_labels = np.where(kept, y, 0)
            onehot = np.zeros((n, classes))
            onehot[index, safe_labels] = 1.0
            label_w = class_w[safe_labels] * sample_w
            label_w = np.where(kept, label_w, 0.0)
            smoothing_w = np.where(kept, sample_w, 0.0)
            target_weight = ((1.0 - eps) * label_w[:, None] * onehot
                             + (eps / classes) * smoothing_w[:, None] * class_w[None, :])
            z_weight = label_w
            denominator = float(label_w.sum())
            # label part times w_y * sample_weight, smoothing part sample_weight * sum_j w_j (.)
            losses = label_w * ((1.0 - eps) * negative_log_p[index, safe_labels])
            if eps:
                losses = losses + sample_w * ((eps / classes) * (class_w[None, :] * negative_log_p).sum(axis=1))
        if z_loss:  # not 0 * lse**2: that is NaN for an infinite (or overflowing) lse
            losses = losses + z_weight * z_loss * lse**2
        weighted = np.where(kept, losses, 0.0)
    value, scale = _reduce(weighted.reshape(x.shape[:-1]), denominator, reduction)
    if not (return_grad or return_hessian):
        return value, None
    with np.errstate(invalid="ignore", over="ignore"):
        coefficient = target_weight.sum(axis=1)
        if z_loss:
            coefficient = coefficient + 2.0 * z_loss * z_weight * lse
        gradient = coefficient[:, None] * softmax - target_weight
        if tanh is not None:
            gradient = gradient * (1.0 - tanh**2)
        gradient = np.where(kept[:, None], gradient * scale, 0.0)
    if return_hessian:
        hessian = _softmax_hessian(softmax, lse, target_weight, z_weight, z_loss, tanh, softcap)
        hessian = np.where(kept[:, None], hessian * scale, 0.0)
        if hessian_terms:
            full, q, k = _softmax_hessian_terms(softmax, lse, target_weight, z_weight, z_loss, tanh,
                                                softcap)
            with np.errstate(invalid="ignore", over="ignore"):
                terms = (np.where(kept[:, None], full * scale, 0.0), q,
                         np.where(kept, k * scale, 0.0))
            return value, gradient.reshape(x.shape), hessian.reshape(x.shape), terms
        return value, gradient.reshape(x.shape), hessian.reshape(x.shape)
    return value, gradient.reshape(x.shape)


def softmax_cross_entropy_rows(
    x: np.ndarray, second: np.ndarray, parameters: Tuple[float, ...] = (), *, takes_labels: bool,
    weight: Optional[np.ndarray] = None, sample_weight: Optional[np.ndarray] = None,
    ignore_index: Optional[int] = None, reduction: str = "mean", return_grad: bool = False,
    return_hessian: bool = False,
) -> Tuple[Value, Optional[np.ndarray], Optional[np.ndarray]]:
    """softmax_cross_entropy as the registry calls a reference (row_loss's arguments, without
    terms): parameters (label_smoothing, z_loss, softcap; 0 off), labels or soft targets."""
    smoothing, z_loss, softcap = (tuple(parameters) + (0.0, 0.0, 0.0))[:3]
    second = np.asarray(second)
    if not takes_labels:
        second = second.astype(np.float64)
    result = softmax_cross_entropy(
        x, second, weight=weight, sample_weight=sample_weight,
        ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction,
        return_grad=return_grad or return_hessian, label_smoothing=smoothing, z_loss=z_loss,
        softcap=softcap or None, return_hessian=return_hessian)
    return result[0], result[1], result[2] if return_hessian else None


def _softmax_hessian_terms(softmax: np.ndarray, lse: np.ndarray, target_weight: np.ndarray,
                           z_weight: np.ndarray, z_loss: float, tanh: Optional[np.ndarray],
                           softcap: Optional[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, q, k) with the full Hessian w.r.t. the raw logits ``diag(M) - k q q^T``: with
    z = c tanh(x / c), s' = 1 - tanh^2, s'' = -2 tanh s' / c, the z-Hessian
    ``A (diag p - p p^T) + B p p^T`` (A = sum_j a_j + 2 lam w_z lse, B = 2 lam w_z) and the
    z-gradient G = A p - a: ``M = A s'^2 p + G s''``, ``q = s' p``, ``k = A - B``."""
    with np.errstate(invalid="ignore", over="ignore"):
        linear = target_weight.sum(axis=1)
        k = linear
        if z_loss:
            linear = linear + 2.0 * z_loss * z_weight * lse
            k = linear - 2.0 * z_loss * z_weight
        if tanh is None:
            return linear[:, None] * softmax, softmax, k
        assert softcap is not None
        slope = 1.0 - tanh**2
        gradient_z = linear[:, None] * softmax - target_weight
        full = linear[:, None] * slope**2 * softmax + gradient_z * (-2.0 * tanh * slope / softcap)
        return full, slope * softmax, k


def _softmax_hessian(softmax: np.ndarray, lse: np.ndarray, target_weight: np.ndarray,
                     z_weight: np.ndarray, z_loss: float, tanh: Optional[np.ndarray],
                     softcap: Optional[float]) -> np.ndarray:
    """Diagonal Hessian (before the reduction's factor) of the row losses
    ``sum_j a_j (lse - z_j) + z_loss w_z lse^2`` w.r.t. the raw logits x, z = c tanh(x / c):
    ``d2L/dz_j^2 = (A + 2 lam w_z lse) p_j (1 - p_j) + 2 lam w_z p_j^2`` (A = sum_j a_j), and
    through the softcap ``s'^2 d2L/dz^2 + s'' dL/dz`` with ``s' = 1 - tanh^2``,
    ``s'' = -2 tanh s' / c``."""
    with np.errstate(invalid="ignore", over="ignore"):
        linear = target_weight.sum(axis=1)
        if z_loss:
            linear = linear + 2.0 * z_loss * z_weight * lse
        hessian = linear[:, None] * (softmax * (1.0 - softmax))
        if z_loss:
            hessian = hessian + (2.0 * z_loss * z_weight)[:, None] * softmax**2
        if tanh is not None:
            assert softcap is not None
            slope = 1.0 - tanh**2
            gradient_z = linear[:, None] * softmax - target_weight
            hessian = slope**2 * hessian + gradient_z * (-2.0 * tanh * slope / softcap)
    result: np.ndarray = hessian
    return result


# ----------------------------------------------------------------------------- elementwise
# Each elementwise loss is its pointwise maths in float64 -- (loss, gradient, Hessian) of one
# element, d = pred - target -- and `elementwise_loss` applies the weights and the reduction,
# the same for all (python/fusedloss/_regression.py names the pair in its registry).
Terms = Tuple[np.ndarray, np.ndarray, np.ndarray]


def squared_error_terms(x: np.ndarray, t: np.ndarray) -> Terms:
    """Gradient and Hessian in units of 2 (``unit=2.0``): 2 d overflows near the float64
    maximum where the scaled gradient 2 d / n does not."""
    d = x - t
    return d * d, d, np.ones_like(d)


def absolute_error_terms(x: np.ndarray, t: np.ndarray) -> Terms:
    d = x - t
    return np.abs(d), np.sign(d), np.zeros_like(d)


def huber_terms(x: np.ndarray, t: np.ndarray, delta: float) -> Terms:
    d = x - t
    inside = np.abs(d) <= delta
    loss = np.where(inside, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    return loss, np.clip(d, -delta, delta), inside.astype(np.float64)


def smooth_l1_terms(x: np.ndarray, t: np.ndarray, beta: float) -> Terms:
    d = x - t
    if beta == 0.0:
        return np.abs(d), np.sign(d), np.zeros_like(d)
    inside = np.abs(d) < beta
    loss = np.where(inside, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)
    return loss, np.where(inside, d / beta, np.sign(d)), inside / beta


def pinball_terms(x: np.ndarray, t: np.ndarray, quantile: float) -> Terms:
    d = x - t
    loss = quantile * np.maximum(-d, 0.0) + (1.0 - quantile) * np.maximum(d, 0.0)
    gradient = np.where(d > 0, 1.0 - quantile, -quantile)
    return loss, np.where(np.isnan(d), np.nan, gradient), np.zeros_like(d)


def poisson_terms(raw: np.ndarray, t: np.ndarray) -> Terms:
    e = np.exp(raw)
    return e - t * raw, e - t, e


def gamma_terms(raw: np.ndarray, t: np.ndarray) -> Terms:
    e = t * np.exp(-raw)
    return raw + e, 1.0 - e, e


def tweedie_terms(raw: np.ndarray, t: np.ndarray, power: float) -> Terms:
    """scikit-learn's HalfTweedieLoss (log link), without its constant terms (as it writes)."""
    if power == 0.0:
        e = np.exp(raw)
        return 0.5 * (e - t) ** 2, e * (e - t), e * (2.0 * e - t)
    if power == 1.0:
        return poisson_terms(raw, t)
    if power == 2.0:
        return gamma_terms(raw, t)
    e1 = np.exp((1.0 - power) * raw)
    e2 = np.exp((2.0 - power) * raw)
    loss = e2 / (2.0 - power) - t * e1 / (1.0 - power)
    return loss, e2 - t * e1, (2.0 - power) * e2 - (1.0 - power) * t * e1


def sigmoid_bce_terms(x: np.ndarray, t: np.ndarray, pos_weight: Optional[np.ndarray] = None) -> Terms:
    """PyTorch's ``binary_cross_entropy_with_logits`` per element with ``p = pos_weight`` and
    ``L = 1 + (p - 1) t``: ``(1 - t) x + L (log1p(exp(-|x|)) + max(-x, 0))``, its linear part
    written without cancellation for ``x < 0`` (``-p t x``); gradient ``(1 - t) - L sigmoid(-x)
    = L sigmoid(x) - p t``; Hessian ``L sigmoid(x) sigmoid(-x)``. Without ``pos_weight`` ``L``
    is exactly 1 (not ``1 + 0 t``: NaN for ``t = inf``)."""
    p = np.ones(()) if pos_weight is None else pos_weight
    log_weight = np.ones(()) if pos_weight is None else 1.0 + (p - 1.0) * t
    e = np.exp(-np.abs(x))
    loss = np.where(x >= 0, (1.0 - t) * x, -(p * t) * x) + log_weight * np.log1p(e)
    small = e / (1.0 + e)  # sigmoid(-|x|)
    gradient = np.where(x >= 0, (1.0 - t) - log_weight * small, log_weight * small - p * t)
    hessian = log_weight * (small / (1.0 + e))  # sigmoid(x) sigmoid(-x)
    return (np.broadcast_to(loss, x.shape), np.broadcast_to(gradient, x.shape),
            np.broadcast_to(hessian, x.shape))


def sigmoid_focal_terms(x: np.ndarray, t: np.ndarray, alpha: float, gamma: float) -> Terms:
    """torchvision's ``sigmoid_focal_loss`` per element and its first two derivatives in ``x``:
    ``a ce q^gamma`` with ``ce`` BCE with logits, ``q = 1 - p_t``, ``a = alpha_t`` (1 for
    ``alpha < 0``). The derivatives are the product rule on ``ce q^gamma`` written term by term
    (``ce' = p - t``, ``ce'' = s = p (1 - p)``, ``q' = (1 - 2t) s``, ``s' = (1 - 2p) s``), with
    ``q^(gamma-1) q'`` as ``q^gamma (q'/q)`` and ``q^(gamma-2) q'^2`` as ``q^gamma (q'/q)^2``, 0
    where ``q = 0`` (float64 would overflow ``q^(gamma-2)`` long before ``q`` reaches 0)."""
    p = np.exp(-np.logaddexp(0.0, -x))  # sigmoid(x), and 1 - p as sigmoid(-x)
    complement = np.exp(-np.logaddexp(0.0, x))
    s = p * complement
    ce = np.where(x >= 0, (1.0 - t) * x, -t * x) + np.log1p(np.exp(-np.abs(x)))
    ce_slope = p * (1.0 - t) - complement * t  # p - t, without 1 - (a rounded p)
    q = p * (1.0 - t) + complement * t
    a = alpha * t + (1.0 - alpha) * (1.0 - t) if alpha >= 0 else np.ones_like(q)
    m = np.power(q, gamma)
    if gamma == 0.0:  # BCE: no modulating terms (their 0 * inf at an infinite logit included)
        return a * ce, a * ce_slope, a * s
    q_slope = (1.0 - 2.0 * t) * s
    ratio = np.divide(q_slope, q, out=np.zeros_like(q), where=q != 0)
    gradient = a * (ce_slope * m + gamma * ce * m * ratio)
    hessian = a * (s * m + 2.0 * gamma * ce_slope * m * ratio
                   + gamma * (gamma - 1.0) * ce * m * ratio ** 2
                   + gamma * ce * m * ratio * (1.0 - 2.0 * p))
    return a * ce * m, gradient, hessian


def elementwise_denominator(sample_weight: Optional[np.ndarray], shape: Tuple[int, ...]) -> float:
    """The "mean" denominator of an elementwise loss: the element count, or
    ``sum(sample_weight) * K`` with K the elements per sample of the first axis."""
    size = int(np.prod(shape, dtype=np.int64))
    if sample_weight is None:
        return float(size)
    per_sample = max(size // shape[0], 1) if shape and shape[0] else 1
    return float(np.sum(sample_weight)) * per_sample


@_quiet
def elementwise_loss(
    terms: Callable[..., Terms],
    prediction: np.ndarray,
    target: np.ndarray,
    parameters: Tuple[float, ...] = (),
    *,
    unit: float = 1.0,
    sample_weight: Optional[np.ndarray] = None,
    weight: Optional[np.ndarray] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    return_hessian: bool = False,
    **operands: Optional[np.ndarray],
) -> Tuple[Value, Optional[np.ndarray], Optional[np.ndarray]]:
    """(value, gradient, Hessian) of the elementwise loss whose pointwise maths is `terms`
    (its gradient and Hessian in units of `unit`). `weight` (a loss that takes one, broadcast
    to the prediction's shape) multiplies each element's loss, gradient and Hessian; the other
    `operands` (BCE's ``pos_weight``), where given, go to `terms` as float64 keywords."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.broadcast_to(np.asarray(target, dtype=np.float64), p.shape)
    given = {name: np.asarray(value, dtype=np.float64) for name, value in operands.items()
             if value is not None}
    losses, gradient, hessian = terms(p, t, *parameters, **given)
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        losses, gradient, hessian = losses * w, gradient * w, hessian * w
    if sample_weight is not None:
        element_weight = np.asarray(sample_weight, dtype=np.float64).reshape(
            (-1,) + (1,) * max(p.ndim - 1, 0)
        )
    else:
        element_weight = np.ones(())
    value, scale = _reduce(losses * element_weight, elementwise_denominator(sample_weight, p.shape),
                           reduction)
    factor = element_weight * (scale * unit)
    grad = np.broadcast_to(gradient * factor, p.shape).copy() if return_grad or return_hessian else None
    hess = np.broadcast_to(hessian * factor, p.shape).copy() if return_hessian else None
    return value, grad, hess


# ----------------------------------------------------------------------------- row-wise losses
# The per-row float64 maths of each row-wise loss of the registry (fusedloss._classification),
# for the rows that count (not ignored): (losses, gradients, Hessian diagonals), unweighted.


def softmax_focal_terms(x: np.ndarray, labels: np.ndarray, gamma: float) -> Terms:
    """-(1 - p_y)^gamma log p_y, written directly: with u = 1 - p_y and ce = -log p_y, the
    gradient is c (p - onehot), c = u^gamma + gamma ce p_y u^(gamma-1), and the Hessian
    diagonal c p (1 - p) + F'' (p - onehot)^2 with
    F'' = gamma p_y u^(gamma-2) ((2 - ce) u + (gamma - 1) ce p_y)."""
    rows = np.arange(x.shape[0])
    log_p = log_softmax_rows(x)
    p = np.exp(log_p)
    ce = -log_p[rows, labels]
    p_label = np.exp(-ce)
    u = -np.expm1(-ce)
    focus = u ** gamma
    inside = (p_label > 0) & (u > 0)
    safe_u = np.where(inside, u, 1.0)
    slope = focus + np.where(inside, gamma * ce * p_label * safe_u ** (gamma - 1.0), 0.0)
    curvature = np.where(inside, gamma * p_label * safe_u ** (gamma - 2.0)
                         * ((2.0 - ce) * safe_u + (gamma - 1.0) * ce * p_label), 0.0)
    slope = np.where(np.isnan(ce), np.nan, slope)
    curvature = np.where(np.isnan(ce), np.nan, curvature)
    onehot = np.zeros_like(p)
    onehot[rows, labels] = 1.0
    gradient = slope[:, None] * (p - onehot)
    hessian = slope[:, None] * p * (1.0 - p) + curvature[:, None] * (p - onehot) ** 2
    return focus * ce, gradient, hessian


def softmax_kl_terms(x: np.ndarray, target_logits: np.ndarray, temperature: float) -> Terms:
    """KL(q || p) = sum_j q_j (log q_j - log p_j), p = softmax(x / T), q = softmax(t / T);
    a q_j of 0 adds nothing (also where log p_j = -inf). Gradient (p - q) / T, Hessian
    p (1 - p) / T^2."""
    log_p = log_softmax_rows(x / temperature)
    log_q = log_softmax_rows(target_logits / temperature)
    q = np.exp(log_q)
    p = np.exp(log_p)
    losses = np.where(q == 0.0, 0.0, q * (log_q - log_p)).sum(axis=-1)
    return losses, (p - q) / temperature, p * (1.0 - p) / temperature**2


def multiclass_hinge_terms(x: np.ndarray, labels: np.ndarray, margin: float, squared: float) -> Terms:
    """sum_{j != y} max(0, d_j), d_j = x_j - x_y + margin (each term squared when `squared`).
    Gradient: 1[d_j > 0] (squared: 2 max(0, d_j)) for j != y, minus their sum at y; Hessian 0
    (piecewise linear), squared 2 at each active term and 2 x (their number) at y."""
    rows = np.arange(x.shape[0])
    is_label = np.zeros(x.shape, dtype=bool)
    is_label[rows, labels] = True
    difference = x - x[rows, labels][:, None] + margin
    terms = np.where(is_label, 0.0, np.maximum(difference, 0.0))  # maximum propagates NaN
    active = (~is_label) & (difference > 0)
    if squared:
        losses = (terms**2).sum(axis=1)
        derivative = 2.0 * terms
        hessian = 2.0 * active
        hessian[rows, labels] = 2.0 * active.sum(axis=1)
    else:
        losses = terms.sum(axis=1)
        derivative = active.astype(np.float64)
        hessian = np.zeros(x.shape)
    derivative[rows, labels] = -derivative.sum(axis=1)
    return losses, derivative, hessian


def cross_entropy_terms(p: np.ndarray, labels: np.ndarray, eps: float) -> Terms:
    """-log(p_y + eps): gradient -1 / (p_y + eps) and Hessian 1 / (p_y + eps)^2 at the label,
    0 elsewhere (no clipping, so no flat region)."""
    targets = np.zeros(p.shape)
    targets[np.arange(p.shape[0]), labels] = 1.0
    return cross_entropy_soft_terms(p, targets, eps)


def cross_entropy_soft_terms(p: np.ndarray, targets: np.ndarray, eps: float) -> Terms:
    """-sum_j t_j log(p_j + eps); a term with t_j = 0 counts 0 (0 log 0 = 0, gradient 0)."""
    shifted = p + eps
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        losses = -np.where(targets == 0, 0.0, targets * np.log(shifted)).sum(axis=1)
        gradient = np.where(targets == 0, 0.0, -targets / shifted)
        hessian = np.where(targets == 0, 0.0, targets / shifted**2)
    return losses, gradient, hessian


@_quiet
def row_loss(
    terms: Callable[..., Terms],
    x: np.ndarray,
    second: np.ndarray,
    parameters: Tuple[float, ...] = (),
    *,
    takes_labels: bool,
    weight: Optional[np.ndarray] = None,
    sample_weight: Optional[np.ndarray] = None,
    ignore_index: Optional[int] = None,
    class_weight_in_mean: bool = True,
    reduction: str = "mean",
    return_grad: bool = False,
    return_hessian: bool = False,
) -> Tuple[Value, Optional[np.ndarray], Optional[np.ndarray]]:
    """(value, gradient, Hessian) of the row-wise loss whose per-row maths is `terms`: row i's
    loss times sample_weight[i] (and weight[y_i]); ignored rows add nothing; "mean" divides by
    the summed row weights of the counted rows (the class weights only where
    `class_weight_in_mean`, else by rows, or the summed sample weights)."""
    batch_shape = x.shape[:-1]
    classes = x.shape[-1]
    rows2d = np.asarray(x, dtype=np.float64).reshape(-1, classes)
    count = rows2d.shape[0]
    sample = np.ones(count) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if takes_labels:
        labels = np.asarray(second).reshape(-1).astype(np.int64)
        keep = np.ones(count, bool) if ignore_index is None else labels != ignore_index
        class_factor = (np.ones(count) if weight is None
                        else np.asarray(weight, np.float64)[np.where(keep, labels, 0)])
        row_weight = sample * class_factor
        denominator = float(np.sum(np.where(keep, row_weight if class_weight_in_mean else sample, 0.0)))
        operand = labels[keep]
    else:
        keep = np.ones(count, bool)
        row_weight = sample
        denominator = float(np.sum(sample))
        operand = np.asarray(second, dtype=np.float64).reshape(-1, classes)
    losses = np.zeros(count)
    gradient = np.zeros_like(rows2d)
    hessian = np.zeros_like(rows2d)
    if keep.any():
        kept_losses, kept_gradient, kept_hessian = terms(rows2d[keep], operand, *parameters)
        losses[keep] = kept_losses
        gradient[keep] = kept_gradient
        hessian[keep] = kept_hessian
    value, scale = _reduce((losses * row_weight).reshape(batch_shape), denominator, reduction)
    factor = (row_weight * scale)[:, None]
    grad = (gradient * factor).reshape(x.shape) if return_grad or return_hessian else None
    hess = (hessian * factor).reshape(x.shape) if return_hessian else None
    return value, grad, hess


def multiclass_hinge(
    scores: np.ndarray, labels: np.ndarray, *, margin: float = 1.0, squared: bool = False,
    weight: Optional[np.ndarray] = None, sample_weight: Optional[np.ndarray] = None,
    reduction: str = "mean", return_grad: bool = False, return_hessian: bool = False,
) -> Tuple[Any, ...]:
    """The Weston-Watkins hinge (row_loss on multiclass_hinge_terms): ``(value, gradient)``, or
    ``(value, gradient, hessian)`` with ``return_hessian``; "mean" divides by N or the summed
    sample weights (not the class weights)."""
    value, gradient, hessian = row_loss(
        multiclass_hinge_terms, np.asarray(scores, np.float64), np.asarray(labels),
        (margin, float(squared)), takes_labels=True, weight=weight, sample_weight=sample_weight,
        class_weight_in_mean=False, reduction=reduction, return_grad=return_grad,
        return_hessian=return_hessian)
    return (value, gradient, hessian) if return_hessian else (value, gradient)


def cross_entropy(
    probs: np.ndarray, labels: Optional[np.ndarray] = None, *, targets: Optional[np.ndarray] = None,
    eps: float = 1e-7, sample_weight: Optional[np.ndarray] = None, reduction: str = "mean",
    return_grad: bool = False, return_hessian: bool = False,
) -> Tuple[Any, ...]:
    """Integer ``labels`` (batch shape) or soft ``targets`` (probs' shape), exactly one:
    row_loss on cross_entropy_terms or cross_entropy_soft_terms, ``(value, gradient)`` or
    ``(value, gradient, hessian)``; "mean" divides by N or the summed sample weights."""
    soft = targets is not None
    value, gradient, hessian = row_loss(
        cross_entropy_soft_terms if soft else cross_entropy_terms,
        np.asarray(probs, np.float64), np.asarray(targets if soft else labels), (eps,),
        takes_labels=not soft, sample_weight=sample_weight, class_weight_in_mean=False,
        reduction=reduction, return_grad=return_grad, return_hessian=return_hessian)
    return (value, gradient, hessian) if return_hessian else (value, gradient)


def mean_squared_error(
    prediction: np.ndarray,
    target: np.ndarray,
    *,
    sample_weight: Optional[np.ndarray] = None,
    reduction: str = "mean",
    return_grad: bool = False,
) -> Tuple[Value, Optional[np.ndarray]]:
    """Mean squared error (kept for the callers that want (value, gradient))."""
    value, gradient, _ = elementwise_loss(squared_error_terms, prediction, target, unit=2.0,
                                          sample_weight=sample_weight, reduction=reduction,
                                          return_grad=return_grad)
    return value, gradient


@_quiet
def logsumexp(x: np.ndarray) -> np.ndarray:
    """logsumexp of each row (last axis), float64, with the infinite-row rules."""
    return logsumexp_rows(np.asarray(x, dtype=np.float64))[0]


@_quiet
def softmax(x: np.ndarray) -> np.ndarray:
    """softmax of each row (last axis), float64."""
    return logsumexp_rows(np.asarray(x, dtype=np.float64))[1]


@_quiet
def log_softmax(x: np.ndarray) -> np.ndarray:
    """log_softmax of each row (last axis), float64: ``(x - m) - log sum exp(x - m)``."""
    return log_softmax_rows(np.asarray(x, dtype=np.float64))


@_quiet
def penalty(
    w: np.ndarray, kind: str, lam: float, beta: float = 0.0, return_grad: bool = False
) -> Tuple[float, Optional[np.ndarray]]:
    """(value, gradient) of ``lam * sum(a w^2 + b |w|)``: (a, b) = (1, 0) for ``"l2"``,
    (0, 1) for ``"l1"``, (beta, 1) for ``"elastic_net"``; sign(0) = 0. A zero ``a`` (elastic
    net with beta = 0) means the w^2 term is absent (not 0 * inf at w = inf)."""
    w = np.asarray(w, dtype=np.float64)
    square, absolute = {"l2": (1.0, 0.0), "l1": (0.0, 1.0), "elastic_net": (beta, 1.0)}[kind]
    terms = np.zeros_like(w)
    gradient = np.zeros_like(w)
    if square:
        terms = terms + square * w * w
        # 2 ((lam a) w): 0 at w = 0 even where 2 lam overflows
        gradient = gradient + 2.0 * ((lam * square) * w)
    if absolute:
        terms = terms + absolute * np.abs(w)
        gradient = gradient + lam * absolute * np.sign(w)
    value = lam * float(terms.sum())
    return value, (gradient if return_grad else None)


def _elementwise_reduce(
    losses: np.ndarray, sample_weight: Optional[np.ndarray], reduction: str
) -> Tuple[Value, float, np.ndarray]:
    """(value, gradient scale, per-element sample weight) of an elementwise loss."""
    per_sample = max(losses.size // losses.shape[0], 1) if losses.ndim and losses.shape[0] else 1
    if sample_weight is not None:
        element_weight = np.asarray(sample_weight, dtype=np.float64).reshape(
            (-1,) + (1,) * max(losses.ndim - 1, 0)
        )
        denominator = float(np.sum(sample_weight)) * per_sample
    else:
        element_weight = np.ones(())
        denominator = float(losses.size)
    weighted = losses * element_weight
    if reduction == "none":
        return weighted, 1.0, element_weight
    value, scale = _reduce(weighted, denominator, reduction)
    return value, scale, element_weight


@_quiet
def sigmoid_binary_cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    *,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    sample_weight: Optional[np.ndarray] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    return_hessian: bool = False,
) -> Tuple[Any, ...]:
    """``(value, gradient)``, with ``return_hessian=True`` ``(value, gradient, hessian)``: the
    registry's elementwise reduction of :func:`sigmoid_bce_terms`."""
    value, gradient, hessian = elementwise_loss(
        sigmoid_bce_terms, logits, targets, weight=weight, sample_weight=sample_weight,
        reduction=reduction, return_grad=return_grad, return_hessian=return_hessian,
        pos_weight=pos_weight)
    return (value, gradient, hessian) if return_hessian else (value, gradient)


@_quiet
def linear_cross_entropy(
    x: np.ndarray,
    linear_weight: np.ndarray,
    linear_bias: Optional[np.ndarray],
    labels: np.ndarray,
    *,
    return_grad: bool = False,
    return_argmax: bool = False,
    **options: Any,
) -> Tuple[Value, Optional[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]], Optional[np.ndarray]]:
    """Materialising: ``logits = x @ W.T + b`` (float64), softmax_cross_entropy of them, then
    ``d_x = G @ W``, ``d_W = G.T @ x``, ``d_b = G.sum(0)``. ``x`` is ``(N, D)``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(linear_weight, dtype=np.float64)
    logits = x @ w.T
    if linear_bias is not None:
        logits = logits + np.asarray(linear_bias, dtype=np.float64)
    value, gradient = softmax_cross_entropy(logits, labels, return_grad=return_grad, **options)
    argmax = argmax_rows(logits) if return_argmax else None
    if not return_grad:
        return value, None, argmax
    assert gradient is not None
    with np.errstate(over="ignore", invalid="ignore"):
        grads = (gradient @ w, gradient.T @ x,
                 None if linear_bias is None else gradient.sum(axis=0))
    return value, grads, argmax
