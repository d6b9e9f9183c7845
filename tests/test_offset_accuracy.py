"""Accuracy at any offset (SPEC "Accuracy at any offset", issue 16 item 1), on every ISA.

Logits ``u + offset`` with ``u ~ N(0, 3^2)`` and offsets ``±{0, 1e2, 1e4, 1e6, 1e8}``, rounded
to float32. The float32 loss (``reduction="none"``, from the forward-only call and from the
gradient call) and gradient must agree with the float64 computation *on the same float32
inputs* to within a few float32 ulps of the result (not of the offset).

Error unit (the issue's "float32 ulps of the result, absolute 2^-23 units below 1"):
``unit = max(ulp_f32(|expected|), 2^-23 * scale)``: for ``|expected| >= scale`` the float32 ulp
of the exact result, below it the absolute 2^-23 of the row's scale. ``scale`` is 1 for
losses and values; for gradients it is the row's gradient magnitude bound (softmax-CE:
``max(|sum_j a_ij + 2 lam w lse_i|, max_j a_ij)``, the coefficient of ``p`` and the target
weights; elementwise losses: the element's weight), because a gradient entry ``c p_j - a_j``
is formed from probabilities, which float32 holds only to ``2^-24`` absolutely near 1.

Bounds (k, in those units), chosen from the float32 error budget of a correct kernel and
checked at offset 0 (where ``m + log S - x_y`` loses nothing) on every ISA:
- losses: 4 (exp ~2 ulp and log ~1 ulp inside ``log S``, the non-negative terms
  ``log S - (x_j - m)`` added without cancellation), plus ``0.5 log2(C)`` for the sums over
  the C classes of a row (S, and the smoothing / soft-target terms): a blocked or pairwise
  float32 sum errs by ~``log2(C) 2^-24`` relatively (`row_sum_allowance`); a sequential
  float32 accumulator of 50000 terms errs by far more (hundreds of units when many terms are
  equal, as at offset 1e8 where float32 rounds the logits to multiples of 8);
- gradients: 4 units (``exp(x_j - m) / S`` is 2-3 roundings; ``x_j - m`` is exact), plus the
  same sum allowance (``p_j`` inherits the relative error of ``S``);
- logsumexp: within 1 unit of the float64 value rounded to float32 (SPEC), i.e. at most
  one rounding worse than the correctly rounded result;
- log_softmax / softmax values: 4 units, as losses/gradients.
- softcap: ``z = c tanh(x / c)`` is an intermediate that a float32 kernel must round, so the
  bound adds the propagated rounding of z: ``k_z * sum_j |dL/dz_j| ulp(z_j)`` (k_z = 2), which
  is the accuracy the float32 *inputs and the option* allow; still far below the ``|m| 2^-24``
  that the ``m + log S - x_y`` form loses.

`scripts/offset_ulp_report.py` prints the worst errors per function/option and ISA from the
same cases (`measure`), for the before/after figures.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fusedloss
from fusedloss import _core

SUPPORTED_ISAS = tuple(_core.supported_isas())
OFFSETS = (0.0, 1e2, -1e2, 1e4, -1e4, 1e6, -1e6, 1e8, -1e8)
SMALL_CLASSES = (2, 3, 4, 7, 8, 10, 16)  # the small-C tile kernel (C <= 16)
MEDIUM_CLASSES = (100, 1000)  # the row kernel
LONG_CLASSES = (50_000,)  # the long-row kernel (C >= 32768, chunks of 4096)
ROWS = {**{c: 64 for c in SMALL_CLASSES}, 100: 32, 1000: 8, 50_000: 2}
IGNORE = -100
SOFTCAP = 30.0
Z_LOSS = 1e-4
SMOOTHING = 0.1
TWO_M23 = 2.0**-23

LOSS_K = 4.0
GRAD_K = 4.0
LOGSUMEXP_K = 1.0


def row_sum_allowance(classes):
    """Units a float32 sum over `classes` terms may add (blocked/pairwise: log2(C) 2^-24)."""
    return 0.5 * np.log2(max(classes, 1))
SOFTCAP_Z_K = 2.0


# ------------------------------------------------------------------------------------------
# Inputs


def logits(rows, classes, offset, seed):
    rng = np.random.default_rng([seed, classes, int(abs(offset)) % 1_000_003, offset < 0])
    return (rng.normal(0.0, 3.0, (rows, classes)) + offset).astype(np.float32)


def labels_for(rows, classes, seed, ignore=False):
    rng = np.random.default_rng([seed, classes, 7])
    y = rng.integers(0, classes, rows)
    if ignore:
        y[::5] = IGNORE
    return y


def class_weight(classes, seed):
    return np.random.default_rng([seed, classes, 11]).uniform(0.5, 2.0, classes).astype(np.float32)


def soft_targets(rows, classes, seed):
    t = np.random.default_rng([seed, classes, 13]).uniform(0.0, 1.0, (rows, classes))
    return (t / t.sum(axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------------------------------
# The float64 oracle: the formulas of the SPEC, evaluated in float64 on the float32 inputs, in
# the cancellation-free form (log S - (z_j - m)); float64 loses |m| 2^-53 <= 1.1e-8 at 1e8,
# a twentieth of a float32 unit.


def _row_parts(z):
    m = z.max(axis=1, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = z - shift
        e = np.exp(d)
        s = e.sum(axis=1, keepdims=True)
        log_s = np.log(s)
    return d, log_s, e / s, shift + log_s


def softmax_cross_entropy_f64(x, y=None, targets=None, weight=None, smoothing=0.0, z_loss=0.0,
                              softcap=None):
    """(loss per row, gradient, gradient scale per row, z, dz/dx) for reduction="none"."""
    x = np.asarray(x, np.float64)
    n, classes = x.shape
    if softcap is not None:
        tanh = np.tanh(x / softcap)
        z = softcap * tanh
        dz = 1.0 - tanh**2
    else:
        z, dz = x, np.ones_like(x)
    d, log_s, p, lse = _row_parts(z)
    w = np.ones(classes) if weight is None else np.asarray(weight, np.float64)
    if targets is not None:
        a = w[None, :] * ((1.0 - smoothing) * np.asarray(targets, np.float64) + smoothing / classes)
        kept = np.ones(n, dtype=bool)
        z_weight = np.ones(n)
    else:
        kept = y != IGNORE
        safe = np.where(kept, y, 0)
        a = np.zeros((n, classes))
        a[np.arange(n), safe] = (1.0 - smoothing) * w[safe]
        a += (smoothing / classes) * w[None, :]
        a[~kept] = 0.0
        z_weight = np.where(kept, w[safe], 0.0)
    with np.errstate(invalid="ignore"):
        negative_log_p = log_s - d
        loss = np.where(a != 0.0, a * negative_log_p, 0.0).sum(axis=1)
        if z_loss:
            loss = loss + z_loss * z_weight * lse[:, 0] ** 2
        coefficient = a.sum(axis=1) + 2.0 * z_loss * z_weight * lse[:, 0]
        gradient = (coefficient[:, None] * p - a) * dz
    scale = np.maximum(np.abs(coefficient), a.max(axis=1))
    return loss, gradient, scale, z, coefficient[:, None] * p - a


def multiclass_hinge_f64(s, y, margin=1.0, squared=False, weight=None):
    s = np.asarray(s, np.float64)
    n = s.shape[0]
    index = np.arange(n)
    diff = s - s[index, y][:, None] + margin
    is_label = np.zeros(s.shape, dtype=bool)
    is_label[index, y] = True
    terms = np.where(is_label, 0.0, np.maximum(diff, 0.0))
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)[y]
    loss = w * (terms**2 if squared else terms).sum(axis=1)
    derivative = 2.0 * terms if squared else np.where(is_label, 0.0, (diff > 0).astype(float))
    derivative[index, y] = -derivative.sum(axis=1)
    gradient = derivative * w[:, None]
    return loss, gradient, np.maximum(np.abs(gradient).max(axis=1), w)


def sigmoid_bce_f64(x, t, pos_weight=None):
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    p = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    log_weight = 1.0 if pos_weight is None else 1.0 + (p - 1.0) * t
    e = np.exp(-np.abs(x))
    linear = np.where(x >= 0, (1.0 - t) * x, -(p * t) * x)
    loss = linear + log_weight * np.log1p(e)
    small = e / (1.0 + e)
    gradient = np.where(x >= 0, (1.0 - t) - log_weight * small, log_weight * small - p * t)
    return loss, gradient, np.broadcast_to(np.maximum(1.0, np.abs(p)), x.shape)


# ------------------------------------------------------------------------------------------
# Error in units


def units(got, expected, scale=1.0):
    """|got - expected| in units of max(ulp_f32(|expected|), 2^-23 * scale)."""
    got = np.asarray(got, np.float64)
    expected = np.asarray(expected, np.float64)
    spacing = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
    unit = np.maximum(spacing, TWO_M23 * np.asarray(scale, np.float64))
    with np.errstate(invalid="ignore"):
        error = np.abs(got - expected) / unit
    both_inf = np.isinf(got) & (got == expected)
    error = np.where(both_inf, 0.0, error)
    return np.where(np.isnan(error), np.inf, error)  # a NaN result is infinitely wrong


class Worst:
    """The worst error seen and where."""

    def __init__(self):
        self.error = 0.0
        self.where = ""

    def add(self, errors, where, bound=None):
        errors = np.asarray(errors, np.float64)
        if bound is not None:
            errors = errors / bound  # in units of the bound: > 1 fails
        if errors.size and errors.max() > self.error:
            self.error = float(errors.max())
            self.where = where


# ------------------------------------------------------------------------------------------
# Cases: each measures, for one function/option, the worst loss (value) and gradient error
# over every offset and class count, in multiples of its bound (<= 1 passes) and in units.


def _softmax_ce_case(option):
    classes_list = SMALL_CLASSES + MEDIUM_CLASSES + LONG_CLASSES

    def run(seed=0):
        loss_worst, grad_worst = Worst(), Worst()
        loss_units, grad_units = Worst(), Worst()
        for classes in classes_list:
            rows = ROWS[classes]
            for offset in OFFSETS:
                x = logits(rows, classes, offset, seed)
                y = labels_for(rows, classes, seed, ignore=option == "ignore_index")
                kwargs, oracle = {}, {}
                if option in ("weight", "ignore_index", "weight+smoothing+z_loss"):
                    kwargs["weight"] = oracle["weight"] = class_weight(classes, seed)
                if option == "ignore_index":
                    kwargs["ignore_index"] = IGNORE
                if option in ("label_smoothing", "weight+smoothing+z_loss"):
                    kwargs["label_smoothing"] = oracle["smoothing"] = SMOOTHING
                if option in ("z_loss", "weight+smoothing+z_loss"):
                    kwargs["z_loss"] = oracle["z_loss"] = Z_LOSS
                if option == "softcap":
                    kwargs["softcap"] = oracle["softcap"] = SOFTCAP
                if option == "return_argmax":
                    kwargs["return_argmax"] = True
                target = y
                if option == "soft_targets":
                    target = soft_targets(rows, classes, seed)
                    oracle["targets"] = target
                expected, expected_grad, scale, z, dloss_dz = _oracle(x, y, oracle)
                forward = fusedloss.softmax_cross_entropy(x, target, reduction="none", **kwargs)
                both = fusedloss.softmax_cross_entropy(x, target, reduction="none",
                                                       return_grad=True, **kwargs)
                if option == "return_argmax":
                    np.testing.assert_array_equal(forward[1], np.argmax(x, axis=1))
                    np.testing.assert_array_equal(both[2], np.argmax(x, axis=1))
                    forward = forward[0]
                where = f"C={classes} offset={offset:g}"
                loss_bound = (LOSS_K + row_sum_allowance(classes)) * np.ones(rows)
                grad_bound = (GRAD_K + row_sum_allowance(classes)) * np.ones((rows, classes))
                if option == "softcap":
                    # the rounding of z to float32, propagated: sum_j |dL/dz_j| ulp(z_j)
                    z_ulp = np.spacing(np.abs(z).astype(np.float32)).astype(np.float64)
                    propagated = (np.abs(dloss_dz) * z_ulp).sum(axis=1)
                    unit = np.maximum(np.spacing(np.abs(expected).astype(np.float32)), TWO_M23)
                    loss_bound = loss_bound + SOFTCAP_Z_K * propagated / unit
                    grad_bound = grad_bound + SOFTCAP_Z_K * propagated[:, None] / (
                        TWO_M23 * scale[:, None])
                for got in (forward, both[0]):
                    error = units(got, expected)
                    loss_units.add(error, where)
                    loss_worst.add(error, where, loss_bound)
                error = units(both[1], expected_grad, scale[:, None])
                grad_units.add(error, where)
                grad_worst.add(error, where, grad_bound)
        return loss_worst, grad_worst, loss_units, grad_units

    return run


def _oracle(x, y, oracle):
    return softmax_cross_entropy_f64(x, None if "targets" in oracle else y, **oracle)


def _row_case(mode):
    classes_list = SMALL_CLASSES + MEDIUM_CLASSES + LONG_CLASSES

    def run(seed=0):
        worst, worst_units = Worst(), Worst()
        for classes in classes_list:
            rows = ROWS[classes]
            for offset in OFFSETS:
                x = logits(rows, classes, offset, seed)
                d, log_s, p, lse = _row_parts(x.astype(np.float64))
                where = f"C={classes} offset={offset:g}"
                if mode == "logsumexp":
                    got = fusedloss.logsumexp(x)
                    rounded = lse[:, 0].astype(np.float32)
                    error = units(got, rounded)
                    bound = LOGSUMEXP_K
                elif mode == "log_softmax":
                    error = units(fusedloss.log_softmax(x), d - log_s)
                    bound = LOSS_K + row_sum_allowance(classes)
                else:
                    error = units(fusedloss.softmax(x), p)
                    bound = GRAD_K + row_sum_allowance(classes)
                worst_units.add(error, where)
                worst.add(error, where, bound)
        return worst, None, worst_units, None

    return run


def _hinge_case(squared, weighted):
    classes_list = SMALL_CLASSES + MEDIUM_CLASSES

    def run(seed=0):
        loss_worst, grad_worst, loss_units, grad_units = Worst(), Worst(), Worst(), Worst()
        for classes in classes_list:
            rows = ROWS[classes]
            for offset in OFFSETS:
                x = logits(rows, classes, offset, seed)
                y = labels_for(rows, classes, seed)
                weight = class_weight(classes, seed) if weighted else None
                expected, expected_grad, scale = multiclass_hinge_f64(x, y, squared=squared,
                                                                      weight=weight)
                kwargs = dict(squared=squared, weight=weight, reduction="none")
                forward = fusedloss.multiclass_hinge(x, y, **kwargs)
                loss, grad = fusedloss.multiclass_hinge(x, y, return_grad=True, **kwargs)
                where = f"C={classes} offset={offset:g}"
                for got in (forward, loss):
                    error = units(got, expected)
                    loss_units.add(error, where)
                    loss_worst.add(error, where, LOSS_K + row_sum_allowance(classes))
                error = units(grad, expected_grad, scale[:, None])
                grad_units.add(error, where)
                grad_worst.add(error, where, GRAD_K + row_sum_allowance(classes))
        return loss_worst, grad_worst, loss_units, grad_units

    return run


def _elementwise_case(kind):
    shapes = ((64, 7), (16, 100), (4, 1000))

    def run(seed=0):
        loss_worst, grad_worst, loss_units, grad_units = Worst(), Worst(), Worst(), Worst()
        for shape in shapes:
            for offset in OFFSETS:
                x = logits(shape[0], shape[1], offset, seed)
                rng = np.random.default_rng([seed, shape[1], 17])
                where = f"shape={shape} offset={offset:g}"
                if kind == "mean_squared_error":
                    t = logits(shape[0], shape[1], offset, seed + 1)
                    d = x.astype(np.float64) - t.astype(np.float64)
                    expected, expected_grad, scale = d**2, 2.0 * d, np.ones(shape)
                    call = functools.partial(fusedloss.mean_squared_error, x, t, reduction="none")
                else:
                    # targets: hard 0/1 and soft values
                    t = rng.uniform(0.0, 1.0, shape).astype(np.float32)
                    t[:, ::2] = np.round(t[:, ::2])
                    pos_weight = None
                    if kind == "pos_weight":
                        pos_weight = rng.uniform(0.5, 3.0, shape[1]).astype(np.float32)
                    expected, expected_grad, scale = sigmoid_bce_f64(x, t, pos_weight)
                    call = functools.partial(fusedloss.sigmoid_binary_cross_entropy, x, t,
                                             pos_weight=pos_weight, reduction="none")
                forward = call()
                loss, grad = call(return_grad=True)
                for got in (forward, loss):
                    error = units(got, expected)
                    loss_units.add(error, where)
                    loss_worst.add(error, where, LOSS_K)
                error = units(grad, expected_grad, scale)
                grad_units.add(error, where)
                grad_worst.add(error, where, GRAD_K)
        return loss_worst, grad_worst, loss_units, grad_units

    return run


CASES = {
    "softmax_cross_entropy": _softmax_ce_case("plain"),
    "softmax_cross_entropy[weight]": _softmax_ce_case("weight"),
    "softmax_cross_entropy[ignore_index]": _softmax_ce_case("ignore_index"),
    "softmax_cross_entropy[label_smoothing]": _softmax_ce_case("label_smoothing"),
    "softmax_cross_entropy[z_loss]": _softmax_ce_case("z_loss"),
    "softmax_cross_entropy[softcap]": _softmax_ce_case("softcap"),
    "softmax_cross_entropy[soft_targets]": _softmax_ce_case("soft_targets"),
    "softmax_cross_entropy[return_argmax]": _softmax_ce_case("return_argmax"),
    "softmax_cross_entropy[weight+smoothing+z_loss]": _softmax_ce_case("weight+smoothing+z_loss"),
    "log_softmax": _row_case("log_softmax"),
    "softmax": _row_case("softmax"),
    "logsumexp": _row_case("logsumexp"),
    "multiclass_hinge": _hinge_case(squared=False, weighted=False),
    "multiclass_hinge[squared+weight]": _hinge_case(squared=True, weighted=True),
    "sigmoid_binary_cross_entropy": _elementwise_case("plain"),
    "sigmoid_binary_cross_entropy[pos_weight]": _elementwise_case("pos_weight"),
    "mean_squared_error": _elementwise_case("mean_squared_error"),
}


def measure(name, isa):
    """(loss Worst, gradient Worst, loss units Worst, gradient units Worst) of case `name`
    on `isa`; the first two in multiples of the bound, the last two in float32 units."""
    previous = _core.selected_isa()
    _core.select_isa(isa)
    try:
        assert _core.selected_isa() == isa
        return CASES[name]()
    finally:
        _core.select_isa(previous)


# ------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("name", list(CASES))
def test_offset_sweep_within_float32_ulps(name, isa):
    loss, grad, loss_units, grad_units = CASES[name]()
    assert loss.error <= 1.0, (
        f"{name} on {isa}: loss/value {loss_units.error:.3g} units at {loss_units.where} "
        f"({loss.error:.3g}x the bound at {loss.where})")
    if grad is not None:
        assert grad.error <= 1.0, (
            f"{name} on {isa}: gradient {grad_units.error:.3g} units at {grad_units.where} "
            f"({grad.error:.3g}x the bound at {grad.where})")


@pytest.mark.parametrize("kwargs", [{}, {"return_grad": True}, {"label_smoothing": 0.0,
                                                                  "return_argmax": True}],
                         ids=["forward", "gradient", "argmax"])
def test_optax_case_1e8_minus_inf_1e8_is_log_2(kwargs, isa):
    x = np.array([[1e8, -np.inf, 1e8]], dtype=np.float32)
    result = fusedloss.softmax_cross_entropy(x, [0], **kwargs)
    loss = result[0] if isinstance(result, tuple) else result
    assert loss.dtype == np.float32
    # log 2 to float32 rounding (1 ulp: the kernel's vectorised log is within 1 ulp)
    assert abs(float(loss) - np.log(2.0)) <= np.spacing(np.float32(np.log(2.0))), loss
    if kwargs.get("return_grad"):
        np.testing.assert_array_equal(result[1], np.array([[-0.5, 0.0, 0.5]], np.float32))


@pytest.mark.parametrize("offset", [1e6, -1e6])
@pytest.mark.parametrize("classes", [3, 40])
def test_uniform_logits_at_large_offset_give_log_c(offset, classes, isa):
    x = np.full((5, classes), offset, dtype=np.float32)
    expected = np.float32(np.log(classes))
    bound = 2 * float(np.spacing(expected))
    for kwargs in ({}, {"return_grad": True}, {"label_smoothing": 0.1}, {"softcap": 1e7}):
        loss = fusedloss.softmax_cross_entropy(x, [0, 1, 2, 0, 1], reduction="none", **kwargs)
        loss = loss[0] if isinstance(loss, tuple) else loss
        assert np.all(np.abs(loss.astype(np.float64) - np.log(classes)) <= bound), (kwargs, loss)
    log_p = fusedloss.log_softmax(x)
    np.testing.assert_allclose(log_p, -np.log(classes), rtol=0, atol=bound)
