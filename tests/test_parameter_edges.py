"""Edge cases of issue 16 item 10: elastic net with beta = 0 at inf, penalties whose lam
overflows float32, a softcap so small that 1/c overflows, MSE's target dtype, ints beyond the
float range for float parameters, masked arrays, the reference MSE gradient near the float64
maximum. Each against a float64 NumPy computation written here or a known value, on both
backends."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

BACKENDS = ["native", "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    fusedloss.set_backend(request.param)
    yield request.param
    fusedloss.set_backend("native")


# ---- penalties ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elastic_net_beta_zero_is_l1_at_inf(backend, dtype):
    # lam * sum(beta w^2 + |w|) with beta = 0: the w^2 term is absent (not 0 * inf = NaN)
    w = np.array([np.inf, 1.0, -np.inf, 0.0, -2.5], dtype=dtype)
    value, grad = fusedloss.elastic_net_penalty(w, 0.5, 0.0, return_grad=True)
    l1_value, l1_grad = fusedloss.l1_penalty(w, 0.5, return_grad=True)
    assert value == np.inf and l1_value == np.inf
    np.testing.assert_array_equal(grad, l1_grad)
    np.testing.assert_array_equal(grad, 0.5 * np.sign(w.astype(np.float64)))
    finite = np.array([1.0, -3.0, 0.0], dtype=dtype)
    assert fusedloss.elastic_net_penalty(finite, 0.5, 0.0) == dtype(2.0)
    assert fusedloss.elastic_net_penalty(np.array([np.nan, 1.0], dtype), 0.5, 0.0) != 0  # NaN


@pytest.mark.parametrize("kind", ["l2", "l1", "elastic_net"])
@pytest.mark.parametrize("dtype, lam", [(np.float32, 1e39), (np.float32, 3e38),
                                        (np.float64, 1e308), (np.float32, 1e-45)],
                         ids=["f32-1e39", "f32-3e38", "f64-1e308", "f32-subnormal"])
@pytest.mark.parametrize("accumulate", [False, True])
def test_penalty_gradient_with_lam_beyond_the_dtype(backend, kind, dtype, lam, accumulate):
    # float32 factors 2 lam and lam overflow (inf * 0 was NaN at w = 0); the gradient must be
    # the float64 one rounded once: 0 at w = 0, finite where it fits
    w = np.array([0.0, -0.0, 1e-20, -1e-30, 1.0, 3e-39], dtype=dtype)
    beta = 0.25
    wide = w.astype(np.float64)
    square = {"l2": 1.0, "l1": 0.0, "elastic_net": beta}[kind]
    absolute = 0.0 if kind == "l2" else 1.0
    with np.errstate(over="ignore"):
        expected_grad = (2.0 * ((lam * square) * wide) + lam * absolute * np.sign(wide))
        expected_grad = expected_grad.astype(dtype)
        expected_value = dtype(lam * np.sum(square * wide**2 + absolute * np.abs(wide)))
    function = {"l2": lambda *a, **k: fusedloss.l2_penalty(*a, **k),
                "l1": lambda *a, **k: fusedloss.l1_penalty(*a, **k),
                "elastic_net": lambda w, lam, **k: fusedloss.elastic_net_penalty(w, lam, beta, **k)}[kind]
    out = np.zeros_like(w) if accumulate else None
    value, grad = function(w, lam, return_grad=True, out=out, accumulate=accumulate)
    assert not np.isnan(grad).any()
    assert grad[0] == 0 and grad[1] == 0
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0)
    assert value == expected_value or np.isclose(value, expected_value, rtol=rtol, atol=0)


# ---- softcap ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softcap_below_the_smallest_normal_is_rejected(backend, dtype):
    tiny = np.finfo(dtype).tiny
    x = np.array([[0.0, 1.0, -2.0], [3.0, 0.5, 0.25]], dtype=dtype)
    labels = np.array([0, 2])
    too_small = 1e-39 if dtype == np.float32 else 1e-310
    with pytest.raises(ValueError, match=r"softcap: expected a number >= %s" % f"{tiny:.6g}"):
        fusedloss.softmax_cross_entropy(x, labels, softcap=too_small)
    # the smallest allowed works: no NaN row, the loss of all-equal capped logits ~ log C
    loss, grad = fusedloss.softmax_cross_entropy(x, labels, softcap=float(tiny),
                                                 reduction="none", return_grad=True)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, np.log(3.0), rtol=1e-6)


# ---- MSE target dtype ---------------------------------------------------------------------


def test_mse_target_converted_to_pred_dtype_first(backend):
    # SPEC "Result dtype": every other float input is converted to the result dtype, so a
    # float64 target is rounded to float32 before pred - target, in both backends
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((5, 7)).astype(np.float32)
    target = pred.astype(np.float64) + 1e-10  # rounds back to pred in float32
    loss, grad = fusedloss.mean_squared_error(pred, target, reduction="none", return_grad=True)
    np.testing.assert_array_equal(loss, 0.0)
    np.testing.assert_array_equal(grad, 0.0)
    target = rng.standard_normal((5, 7))
    rounded = target.astype(np.float32).astype(np.float64)
    difference = pred.astype(np.float64) - rounded
    loss, grad = fusedloss.mean_squared_error(pred, target, return_grad=True)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, np.mean(difference**2), rtol=1e-6)
    np.testing.assert_allclose(grad, 2 * difference / difference.size, rtol=1e-6, atol=1e-9)
    fusedloss.set_backend("native" if backend == "numpy" else "numpy")
    other = fusedloss.mean_squared_error(pred, target, reduction="none")
    fusedloss.set_backend(backend)
    np.testing.assert_allclose(fusedloss.mean_squared_error(pred, target, reduction="none"), other,
                               rtol=1e-6, atol=0)


def test_reference_mse_gradient_scales_before_doubling(backend):
    # 2 * (pred - target) overflows float64 here; the gradient 2 d / n does not
    pred = np.array([8e307, -8e307, 0.0])
    target = -pred
    _, grad = fusedloss.mean_squared_error(pred, target, return_grad=True)
    np.testing.assert_allclose(grad, pred * (4.0 / 3.0), rtol=1e-15)
    _, reference_grad = _reference.mean_squared_error(pred, target, return_grad=True)
    assert np.isfinite(reference_grad).all()


# ---- float parameters given as huge ints --------------------------------------------------

HUGE = 10**400
X = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, 0.25]])
LABELS = np.array([0, 2])
FLOAT_PARAMETERS = {
    "lam": lambda v: fusedloss.l2_penalty(X, v),
    "lam-l1": lambda v: fusedloss.l1_penalty(X, v),
    "lam-en": lambda v: fusedloss.elastic_net_penalty(X, v, 0.5),
    "beta": lambda v: fusedloss.elastic_net_penalty(X, 0.5, v),
    "margin": lambda v: fusedloss.multiclass_hinge(X, LABELS, margin=v),
    "margin-weighted": lambda v: fusedloss.multiclass_hinge(X, LABELS, margin=v, weight=np.ones(3)),
    "eps": lambda v: fusedloss.cross_entropy(np.abs(X), LABELS, eps=v),
    "label_smoothing": lambda v: fusedloss.softmax_cross_entropy(X, LABELS, label_smoothing=v),
    "z_loss": lambda v: fusedloss.softmax_cross_entropy(X, LABELS, z_loss=v),
    "softcap": lambda v: fusedloss.softmax_cross_entropy(X, LABELS, softcap=v),
}


@pytest.mark.parametrize("name", sorted(FLOAT_PARAMETERS))
@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["+10**400", "-10**400"])
def test_float_parameter_beyond_float_range_is_a_value_error(backend, name, value):
    with pytest.raises(ValueError, match="expected a finite number, got an int too large"):
        FLOAT_PARAMETERS[name](value)


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
def test_bce_weight_as_huge_int_is_a_type_error(backend, name):
    with pytest.raises(TypeError, match=name):
        fusedloss.sigmoid_binary_cross_entropy(X, np.zeros_like(X), **{name: HUGE})


# ---- masked arrays ------------------------------------------------------------------------


def masked(array):
    return np.ma.masked_array(array, mask=np.zeros(np.shape(array), dtype=bool))


P = np.abs(X) / np.abs(X).sum(axis=1, keepdims=True)
MASKED_CASES = {
    "sce-logits": lambda: fusedloss.softmax_cross_entropy(masked(X), LABELS),
    "sce-labels": lambda: fusedloss.softmax_cross_entropy(X, masked(LABELS)),
    "sce-soft-targets": lambda: fusedloss.softmax_cross_entropy(X, masked(P)),
    "sce-weight": lambda: fusedloss.softmax_cross_entropy(X, LABELS, weight=masked(np.ones(3))),
    "sce-sample_weight": lambda: fusedloss.softmax_cross_entropy(X, LABELS, sample_weight=masked(np.ones(2))),
    "sce-out": lambda: fusedloss.softmax_cross_entropy(X, LABELS, return_grad=True, out=masked(np.zeros_like(X))),
    "hinge-scores": lambda: fusedloss.multiclass_hinge(masked(X), LABELS),
    "hinge-labels": lambda: fusedloss.multiclass_hinge(X, masked(LABELS)),
    "hinge-out": lambda: fusedloss.multiclass_hinge(X, LABELS, return_grad=True, out=masked(np.zeros_like(X))),
    "ce-probs": lambda: fusedloss.cross_entropy(masked(P), LABELS),
    "ce-labels": lambda: fusedloss.cross_entropy(P, masked(LABELS)),
    "ce-soft": lambda: fusedloss.cross_entropy(P, masked(P)),
    "ce-sample_weight": lambda: fusedloss.cross_entropy(P, LABELS, sample_weight=masked(np.ones(2))),
    "bce-logits": lambda: fusedloss.sigmoid_binary_cross_entropy(masked(X), P),
    "bce-targets": lambda: fusedloss.sigmoid_binary_cross_entropy(X, masked(P)),
    "bce-weight": lambda: fusedloss.sigmoid_binary_cross_entropy(X, P, weight=masked(np.ones(3))),
    "bce-pos_weight": lambda: fusedloss.sigmoid_binary_cross_entropy(X, P, pos_weight=masked(np.ones(3))),
    "bce-out": lambda: fusedloss.sigmoid_binary_cross_entropy(X, P, return_grad=True, out=masked(np.zeros_like(X))),
    "mse-pred": lambda: fusedloss.mean_squared_error(masked(X), P),
    "mse-target": lambda: fusedloss.mean_squared_error(X, masked(P)),
    "mse-sample_weight": lambda: fusedloss.mean_squared_error(X, P, sample_weight=masked(np.ones(2))),
    "mse-out": lambda: fusedloss.mean_squared_error(X, P, return_grad=True, out=masked(np.zeros_like(X))),
    "softmax-x": lambda: fusedloss.softmax(masked(X)),
    "softmax-out": lambda: fusedloss.softmax(X, out=masked(np.zeros_like(X))),
    "logsumexp-x": lambda: fusedloss.logsumexp(masked(X)),
    "log_softmax-x": lambda: fusedloss.log_softmax(masked(X)),
    "l2-w": lambda: fusedloss.l2_penalty(masked(X), 0.5),
    "l1-out": lambda: fusedloss.l1_penalty(X, 0.5, return_grad=True, out=masked(np.zeros_like(X))),
}


@pytest.mark.parametrize("case", sorted(MASKED_CASES))
def test_masked_arrays_are_rejected(backend, case):
    # SPEC "Low-precision and foreign arrays": a mask is never silently ignored
    with pytest.raises(TypeError, match="masked array"):
        MASKED_CASES[case]()
