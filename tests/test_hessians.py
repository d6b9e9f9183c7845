"""return_hessian=True: the diagonal Hessians of the classification losses and the penalties.

Oracles: (1) the float64 NumPy reference's Hessian against central finite differences of the
reference gradient, for every option combination; (2) the native kernels against the
reference (dtypes, shapes, layouts, offsets up to 1e8, threads); the contract (loss and
gradient bitwise unchanged by return_hessian, out pairs, errors). PyTorch and scikit-learn
parity is in test_hessians_parity.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import LAYOUTS, layout

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def logits_and_labels(rows, classes, dtype=np.float64, seed=0, batch=None, scale=2.0):
    rng = np.random.default_rng(seed)
    shape = (batch if batch is not None else (rows,)) + (classes,)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    y = rng.integers(0, classes, size=shape[:-1])
    return x, y


def soft_targets(shape, seed=1):
    rng = np.random.default_rng(seed)
    t = rng.random(shape)
    if shape[-1] > 1:
        t[..., 0] = 0.0  # a zero target (0 log 0 = 0)
    return t / t.sum(axis=-1, keepdims=True)


def central_difference(gradient_of, x, step):
    """d grad_ij / d x_ij for every (i, j) whose rows are independent: column j of every row
    is moved at once (row i's gradient depends on row i only)."""
    x = np.asarray(x, dtype=np.float64)
    result = np.empty_like(x)
    flat = x.reshape(-1, x.shape[-1])
    out = result.reshape(flat.shape)
    for j in range(flat.shape[1]):
        plus, minus = flat.copy(), flat.copy()
        plus[:, j] += step
        minus[:, j] -= step
        g_plus = gradient_of(plus.reshape(x.shape)).reshape(flat.shape)
        g_minus = gradient_of(minus.reshape(x.shape)).reshape(flat.shape)
        out[:, j] = (g_plus[:, j] - g_minus[:, j]) / (2 * step)
    return result


# ---------------------------------------------------------------------------------------------
# (1) the reference against finite differences of its own gradient (float64, pure NumPy)

SCE_OPTIONS = list(itertools.product(
    [False, True],          # class weight
    [False, True],          # sample weight
    [0.0, 0.2],             # label smoothing
    [0.0, 0.05],            # z-loss
    [None, 2.5],            # softcap
    ["labels", "ignore", "soft"],
    REDUCTIONS,
))


@pytest.mark.isa_independent
@pytest.mark.parametrize("weighted, sample_weighted, smoothing, z_loss, softcap, targets, reduction",
                         SCE_OPTIONS)
def test_reference_softmax_hessian_is_the_derivative_of_its_gradient(
        weighted, sample_weighted, smoothing, z_loss, softcap, targets, reduction):
    rows, classes = 4, 5
    x, y = logits_and_labels(rows, classes, seed=3)
    rng = np.random.default_rng(4)
    kwargs = dict(
        weight=rng.uniform(0.5, 2.0, classes) if weighted else None,
        sample_weight=rng.uniform(0.5, 2.0, rows) if sample_weighted else None,
        label_smoothing=smoothing, z_loss=z_loss, softcap=softcap, reduction=reduction,
    )
    if targets == "soft":
        labels = soft_targets(x.shape)
    else:
        labels = y.copy()
        if targets == "ignore":
            labels[1] = -100

    def gradient_of(z):
        return _reference.softmax_cross_entropy(z, labels, return_grad=True, **kwargs)[1]

    value, gradient, hessian = _reference.softmax_cross_entropy(
        x, labels, return_grad=False, return_hessian=True, **kwargs)
    np.testing.assert_array_equal(gradient, gradient_of(x))
    expected = central_difference(gradient_of, x, 1e-5)
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-8)
    if targets == "ignore":
        assert not hessian[1].any()


@pytest.mark.isa_independent
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reference_hinge_hessian_is_the_derivative_of_its_gradient(squared, weighted, reduction):
    rows, classes = 6, 5
    x, y = logits_and_labels(rows, classes, seed=5)
    rng = np.random.default_rng(6)
    kwargs = dict(margin=1.0, squared=squared, reduction=reduction,
                  weight=rng.uniform(0.5, 2.0, classes) if weighted else None,
                  sample_weight=rng.uniform(0.5, 2.0, rows) if weighted else None)

    def gradient_of(z):
        return _reference.multiclass_hinge(z, y, return_grad=True, **kwargs)[1]

    _, _, hessian = _reference.multiclass_hinge(x, y, return_hessian=True, **kwargs)
    # away from the kinks (|d| > step) the piecewise quadratic's differences are exact
    expected = central_difference(gradient_of, x, 1e-6)
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-6)
    if not squared:
        assert not hessian.any()


@pytest.mark.isa_independent
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [1e-7, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reference_cross_entropy_hessian_is_the_derivative_of_its_gradient(soft, weighted, eps,
                                                                            reduction):
    rows, classes = 4, 6
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 1.0, (rows, classes))
    labels = soft_targets(p.shape) if soft else rng.integers(0, classes, rows)
    kwargs = dict(eps=eps, reduction=reduction,
                  sample_weight=rng.uniform(0.5, 2.0, rows) if weighted else None)
    if soft:
        kwargs["targets"] = labels
        labels = None

    def gradient_of(z):
        return _reference.cross_entropy(z, labels, return_grad=True, **kwargs)[1]

    _, _, hessian = _reference.cross_entropy(p, labels, return_hessian=True, **kwargs)
    np.testing.assert_allclose(hessian, central_difference(gradient_of, p, 1e-6), rtol=1e-6)


@pytest.mark.isa_independent
@pytest.mark.parametrize("weighted, pos_weighted, sample_weighted",
                         list(itertools.product([False, True], repeat=3)))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reference_bce_hessian_is_the_derivative_of_its_gradient(weighted, pos_weighted,
                                                                 sample_weighted, reduction):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3)) * 3
    t = rng.random((4, 3))
    kwargs = dict(weight=rng.uniform(0.5, 2.0, 3) if weighted else None,
                  pos_weight=rng.uniform(0.5, 3.0, 3) if pos_weighted else None,
                  sample_weight=rng.uniform(0.5, 2.0, 4) if sample_weighted else None,
                  reduction=reduction)

    def gradient_of(z):
        return _reference.sigmoid_binary_cross_entropy(z, t, return_grad=True, **kwargs)[1]

    _, _, hessian = _reference.sigmoid_binary_cross_entropy(x, t, return_hessian=True, **kwargs)
    step = 1e-5
    expected = (gradient_of(x + step) - gradient_of(x - step)) / (2 * step)  # elementwise
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# (2) native kernels against the reference


def sce_reference(x, labels, **kwargs):
    return _reference.softmax_cross_entropy(np.asarray(x, np.float64), labels, return_hessian=True,
                                            **kwargs)


def assert_hessian_close(actual, expected, dtype, condition=1.0):
    """Within a few ulps of the dtype relative to the Hessian's size: its largest entry in the
    row, and never below a quarter of its largest entry overall (a row of one class with a
    softcap is all cancellation, p (1 - p) = 0 and A p - a_j = 0 up to rounding). `condition`
    widens it where the formula itself is ill-conditioned (the softcap's 1 - tanh^2)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    if not expected.size:
        return
    ulp = np.finfo(dtype).eps
    size = np.abs(expected).max(axis=-1, keepdims=True) if expected.ndim else np.abs(expected)
    size = np.maximum(size, 0.25 * np.abs(expected).max())
    assert np.all(np.abs(actual - expected) <= 16 * ulp * size * condition + np.finfo(dtype).tiny), (
        np.abs(actual - expected).max(), size.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [
    {},
    {"weight": True},
    {"sample_weight": True},
    {"ignore": True},
    {"label_smoothing": 0.1},
    {"label_smoothing": 0.1, "weight": True},
    {"z_loss": 1e-3},
    {"z_loss": 1e-3, "weight": True, "sample_weight": True},
    {"softcap": 5.0},
    {"softcap": 5.0, "z_loss": 1e-2, "label_smoothing": 0.2, "weight": True},
    {"soft": True},
    {"soft": True, "weight": True, "softcap": 3.0, "z_loss": 1e-2, "label_smoothing": 0.1},
], ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()) or "plain")
@pytest.mark.parametrize("classes", [1, 3, 17, 130])
def test_native_softmax_hessian_matches_reference(dtype, reduction, options, classes):
    options = dict(options)
    rows = 37
    x, y = logits_and_labels(rows, classes, dtype, seed=classes)
    rng = np.random.default_rng(11)
    kwargs = {}
    if options.pop("weight", False):
        kwargs["weight"] = rng.uniform(0.5, 2.0, classes)
    if options.pop("sample_weight", False):
        kwargs["sample_weight"] = rng.uniform(0.5, 2.0, rows)
    labels = y
    if options.pop("ignore", False):
        labels = y.copy()
        labels[::4] = -100
    if options.pop("soft", False):
        labels = soft_targets(x.shape).astype(dtype)
    kwargs.update(options)
    loss, grad, hess = fusedloss.softmax_cross_entropy(x, labels, reduction=reduction,
                                                       return_hessian=True, **kwargs)
    assert hess.dtype == x.dtype and hess.shape == x.shape
    ref_labels = labels.astype(np.float64) if labels.dtype.kind == "f" else labels
    _, _, expected = sce_reference(
        x, ref_labels, reduction=reduction,
        **{k: (np.asarray(v, np.float64) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()})
    # one class with a softcap: the Hessian is all cancellation (A p - a_j with p = 1)
    condition = 16.0 if classes == 1 and "softcap" in kwargs else 1.0
    assert_hessian_close(hess, expected, dtype, condition)
    # the numpy backend gives the reference's numbers
    fusedloss.set_backend("numpy")
    try:
        numpy_result = fusedloss.softmax_cross_entropy(x, labels, reduction=reduction,
                                                       return_hessian=True, **kwargs)
    finally:
        fusedloss.set_backend("native")
    assert_hessian_close(numpy_result[2], expected, dtype)
    assert numpy_result[2].dtype == x.dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 5), (1, 1), (5, 17), (3, 5000), (2, 3, 7)])
def test_native_softmax_hessian_shapes(dtype, shape):
    x, y = logits_and_labels(None, shape[-1], dtype, batch=shape[:-1])
    loss, grad, hess = fusedloss.softmax_cross_entropy(x, y, return_hessian=True)
    assert hess.shape == shape and hess.dtype == dtype
    if x.size:
        _, _, expected = sce_reference(x, y)
        assert_hessian_close(hess.reshape(-1, shape[-1]), expected.reshape(-1, shape[-1]), dtype)
    if shape[-1] == 1:
        assert not hess.any()  # p = 1: no curvature


@pytest.mark.parametrize("name", LAYOUTS)
def test_native_softmax_hessian_any_layout(name):
    x, y = logits_and_labels(9, 11, np.float32)
    _, _, expected = fusedloss.softmax_cross_entropy(x, y, return_hessian=True, z_loss=0.01)
    _, _, hess = fusedloss.softmax_cross_entropy(layout(name, x), y, return_hessian=True,
                                                 z_loss=0.01)
    if name == "list":  # float64 values
        assert_hessian_close(hess, expected, np.float32)
    else:
        np.testing.assert_array_equal(hess, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0.0, 1e2, -1e4, 1e6, -1e8, 1e8])
@pytest.mark.parametrize("options", [{}, {"z_loss": 1e-4}, {"label_smoothing": 0.1},
                                     {"softcap": 30.0}],
                         ids=["plain", "z_loss", "smoothing", "softcap"])
def test_native_softmax_hessian_at_any_offset(dtype, offset, options):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((16, 50)) * 3 + offset).astype(dtype)
    x[3, 7] = -np.inf  # a masked class: p = 0, Hessian 0
    y = rng.integers(0, 50, 16)
    y[3] = 0
    _, _, hess = fusedloss.softmax_cross_entropy(x, y, return_hessian=True, **options)
    _, _, expected = sce_reference(x, y, **options)
    assert np.isfinite(hess).all()
    condition = 1.0
    if "softcap" not in options:
        assert hess[3, 7] == 0
    else:
        # 1 - tanh(u)^2 from tanh(u) loses digits as |tanh| -> 1 (in the gradient alike)
        with np.errstate(divide="ignore"):
            tanh = np.abs(np.tanh(np.asarray(x, np.float64)[np.isfinite(x)] / options["softcap"]))
        condition = float(np.max(1.0 / np.maximum(1.0 - tanh, 1e-300), initial=1.0))
    assert_hessian_close(hess, expected, dtype, condition)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"z_loss": 1e-3, "label_smoothing": 0.1},
                                     {"softcap": 4.0}, {"soft": True}, {"hinge": True},
                                     {"hinge": True, "squared": True}, {"probs": True},
                                     {"bce": True}],
                         ids=lambda o: "-".join(o) or "plain")
def test_loss_and_gradient_bitwise_unchanged_and_threads_bitwise(dtype, options):
    options = dict(options)
    x, y = logits_and_labels(160, 1000, dtype, seed=2)
    if options.pop("hinge", False):
        function, labels = fusedloss.multiclass_hinge, y
    elif options.pop("probs", False):
        x = np.abs(x) / np.abs(x).sum(axis=1, keepdims=True)
        function, labels = fusedloss.cross_entropy, y
    elif options.pop("bce", False):
        function, labels = fusedloss.sigmoid_binary_cross_entropy, (x > 0).astype(dtype)
    else:
        function = fusedloss.softmax_cross_entropy
        labels = soft_targets(x.shape).astype(dtype) if options.pop("soft", False) else y
    for reduction in REDUCTIONS:
        loss, grad = function(x, labels, reduction=reduction, return_grad=True, threads=1,
                              **options)
        loss_only = function(x, labels, reduction=reduction, threads=1, **options)
        hessian_one = function(x, labels, reduction=reduction, return_hessian=True, threads=1,
                               **options)
        hessian_two = function(x, labels, reduction=reduction, return_hessian=True, threads=2,
                               **options)
        for result in (hessian_one, hessian_two):
            np.testing.assert_array_equal(result[0], loss)
            np.testing.assert_array_equal(result[0], loss_only)
            np.testing.assert_array_equal(result[1], grad)
        np.testing.assert_array_equal(hessian_one[2], hessian_two[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("classes", [1, 2, 9, 40])
def test_native_hinge_hessian_matches_reference(dtype, squared, reduction, classes):
    x, y = logits_and_labels(33, classes, dtype, seed=classes)
    rng = np.random.default_rng(13)
    weight, sample_weight = rng.uniform(0.5, 2.0, classes), rng.uniform(0.5, 2.0, 33)
    for kwargs in ({}, {"weight": weight, "sample_weight": sample_weight}):
        loss, grad, hess = fusedloss.multiclass_hinge(x, y, squared=squared, reduction=reduction,
                                                      return_hessian=True, **kwargs)
        _, _, expected = _reference.multiclass_hinge(x, y, squared=squared, reduction=reduction,
                                                     return_hessian=True, **kwargs)
        assert hess.dtype == x.dtype
        assert_hessian_close(hess, expected, dtype)
        if not squared:
            assert not hess.any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [1e-7, 0.0])
def test_native_cross_entropy_hessian_matches_reference(dtype, soft, reduction, eps):
    rng = np.random.default_rng(14)
    p = rng.uniform(0.01, 1.0, (21, 13)).astype(dtype)
    y = rng.integers(0, 13, 21)
    labels = soft_targets(p.shape).astype(dtype) if soft else y
    sample_weight = rng.uniform(0.5, 2.0, 21)
    for kwargs in ({}, {"sample_weight": sample_weight}):
        _, _, hess = fusedloss.cross_entropy(p, labels, eps=eps, reduction=reduction,
                                             return_hessian=True, **kwargs)
        _, _, expected = _reference.cross_entropy(
            p, None if soft else y, targets=labels.astype(np.float64) if soft else None, eps=eps,
            reduction=reduction, return_hessian=True, **kwargs)
        assert hess.dtype == p.dtype
        assert_hessian_close(hess, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0,), (7,), (9, 13), (3, 4, 1100)])
def test_native_bce_hessian_matches_reference(dtype, reduction, shape):
    rng = np.random.default_rng(15)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    if x.size:
        x.reshape(-1)[0] = 60.0  # sigmoid(x) sigmoid(-x) tiny, no overflow
    t = rng.random(shape).astype(dtype)
    last = shape[-1]
    cases = [{}, {"weight": rng.uniform(0.5, 2, last).astype(dtype),
                  "pos_weight": rng.uniform(0.5, 3, last).astype(dtype)}]
    if shape[0]:
        cases.append({"sample_weight": rng.uniform(0.5, 2, shape[0]),
                      "pos_weight": rng.uniform(0.5, 3, shape).astype(dtype)})
    for kwargs in cases:
        _, _, hess = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction=reduction,
                                                            return_hessian=True, **kwargs)
        _, _, expected = _reference.sigmoid_binary_cross_entropy(
            x, t, reduction=reduction, return_hessian=True,
            **{k: (v.astype(np.float64) if v.dtype == dtype else v) for k, v in kwargs.items()})
        assert hess.dtype == x.dtype and hess.shape == x.shape
        if x.size:
            assert_hessian_close(hess.reshape(-1), expected.reshape(-1), dtype)


def test_float16_and_int_inputs_return_their_result_dtype():
    x, y = logits_and_labels(5, 4, np.float16)
    _, grad, hess = fusedloss.softmax_cross_entropy(x, y, return_hessian=True)
    assert grad.dtype == hess.dtype == np.float16
    _, grad, hess = fusedloss.multiclass_hinge(np.arange(12).reshape(3, 4), [0, 1, 2],
                                               squared=True, return_hessian=True)
    assert hess.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# out pairs and errors


FUNCTIONS = {
    "softmax_cross_entropy": lambda x, y, **kw: fusedloss.softmax_cross_entropy(x, y, **kw),
    "multiclass_hinge": lambda x, y, **kw: fusedloss.multiclass_hinge(x, y, squared=True, **kw),
    "cross_entropy": lambda x, y, **kw: fusedloss.cross_entropy(x, y, **kw),
    "sigmoid_binary_cross_entropy": lambda x, y, **kw: fusedloss.sigmoid_binary_cross_entropy(
        x, np.full(np.shape(x), 0.25, dtype=np.asarray(x).dtype), **kw),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_out_pair_is_filled_and_in_place_works(name, dtype):
    function = FUNCTIONS[name]
    x, y = logits_and_labels(6, 5, dtype, seed=21)
    x = np.abs(x) + 0.1 if name == "cross_entropy" else x
    loss, grad, hess = function(x, y, return_hessian=True)
    grad_out, hess_out = np.empty_like(x), np.empty_like(x)
    result = function(x, y, return_hessian=True, out=(grad_out, hess_out))
    assert result[1] is grad_out and result[2] is hess_out
    np.testing.assert_array_equal(grad_out, grad)
    np.testing.assert_array_equal(hess_out, hess)
    # either may be None
    result = function(x, y, return_hessian=True, out=[None, hess_out])
    assert result[2] is hess_out
    np.testing.assert_array_equal(result[1], grad)
    # in place: the gradient replaces the input, the Hessian is computed from the input first
    inplace = x.copy()
    hess_out = np.empty_like(x)
    result = function(inplace, y, return_hessian=True, return_grad=True, out=(inplace, hess_out))
    assert result[1] is inplace
    np.testing.assert_array_equal(inplace, grad)
    np.testing.assert_array_equal(hess_out, hess)
    np.testing.assert_array_equal(result[0], loss)


@pytest.mark.isa_independent
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_bad_out_pairs_are_value_errors(name):
    function = FUNCTIONS[name]
    x, y = logits_and_labels(6, 5, np.float64, seed=22)
    x = np.abs(x) + 0.1
    good = np.empty_like(x)
    readonly = np.empty_like(x)
    readonly.flags.writeable = False
    bad = {
        "single array": good,
        "three arrays": (good, np.empty_like(x), np.empty_like(x)),
        "hess shape": (None, np.empty((6, 4))),
        "hess dtype": (None, np.empty(x.shape, np.float32)),
        "hess read-only": (None, readonly),
        "hess not C-contiguous": (None, np.empty((5, 6)).T),
        "hess is the input": (None, x),
        "hess is grad_out": (good, good),
        "grad shape": (np.empty((6, 4)), None),
    }
    for label, out in bad.items():
        before = x.copy()
        with pytest.raises(ValueError) as error:
            function(x, y, return_hessian=True, out=out)
        assert "out" in str(error.value), label
        np.testing.assert_array_equal(x, before)


@pytest.mark.isa_independent
def test_return_hessian_flag_is_checked_and_implies_the_gradient():
    x, y = logits_and_labels(3, 4)
    with pytest.raises(TypeError):
        fusedloss.softmax_cross_entropy(x, y, return_hessian="yes")
    result = fusedloss.softmax_cross_entropy(x, y, return_hessian=True, return_argmax=True)
    assert len(result) == 4
    np.testing.assert_array_equal(result[3], np.argmax(x, axis=1))
    assert len(fusedloss.softmax_cross_entropy(x, y, return_hessian=False, return_grad=True)) == 2


def test_invalid_label_with_hessian_raises():
    x, y = logits_and_labels(3, 4)
    y[1] = 7
    for function in (fusedloss.softmax_cross_entropy, fusedloss.multiclass_hinge,
                     fusedloss.cross_entropy):
        with pytest.raises(ValueError, match="label"):
            function(np.abs(x), y, return_hessian=True)


def test_all_rows_ignored_gives_zero_hessian():
    x, _ = logits_and_labels(4, 6)
    loss, grad, hess = fusedloss.softmax_cross_entropy(x, np.full(4, -100), return_hessian=True,
                                                       z_loss=0.1)
    assert loss == 0 and not grad.any() and not hess.any()


# ---------------------------------------------------------------------------------------------
# penalties


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_hessians_are_constant_diagonals(dtype):
    w = np.array([[1.0, -2.0, 0.0]], dtype=dtype)
    cases = [(fusedloss.l2_penalty, (0.5,), 1.0), (fusedloss.l1_penalty, (0.5,), 0.0),
             (fusedloss.elastic_net_penalty, (0.5, 0.25), 0.25)]
    for function, args, expected in cases:
        value, grad = function(w, *args, return_grad=True)
        result = function(w, *args, return_hessian=True)
        assert len(result) == 3
        assert result[0] == value
        np.testing.assert_array_equal(result[1], grad)
        assert result[2].dtype == dtype and result[2].shape == w.shape
        np.testing.assert_array_equal(result[2], np.full(w.shape, expected, dtype))
        grad_out, hess_out = np.ones_like(w), np.ones_like(w)
        result = function(w, *args, return_hessian=True, out=(grad_out, hess_out), accumulate=True)
        assert result[2] is hess_out
        np.testing.assert_array_equal(hess_out, 1 + np.full(w.shape, expected, dtype))
        np.testing.assert_array_equal(grad_out, 1 + grad)
        with pytest.raises(ValueError, match="out"):
            function(w, *args, return_hessian=True, out=grad_out)


# ---------------------------------------------------------------------------------------------
# linear_cross_entropy: the Hessian diagonal w.r.t. the input


@pytest.mark.parametrize("options", [
    {}, {"weight": True, "sample_weight": True, "ignore": True},
    {"label_smoothing": 0.1, "z_loss": 0.05}, {"softcap": 2.0, "z_loss": 0.05, "bias": True},
], ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_cross_entropy_input_hessian(options, reduction):
    options = dict(options)
    rng = np.random.default_rng(30)
    rows, features, classes = 6, 4, 7
    x = rng.standard_normal((rows, features))
    w = rng.standard_normal((classes, features))
    y = rng.integers(0, classes, rows)
    kwargs = {}
    if options.pop("bias", False):
        kwargs["linear_bias"] = rng.standard_normal(classes)
    if options.pop("weight", False):
        kwargs["weight"] = rng.uniform(0.5, 2.0, classes)
    if options.pop("sample_weight", False):
        kwargs["sample_weight"] = rng.uniform(0.5, 2.0, rows)
    if options.pop("ignore", False):
        y[2] = -100
    kwargs.update(options)

    def gradient_of(z):
        return fusedloss.linear_cross_entropy(z, w, y, reduction=reduction, return_grad=True,
                                              **kwargs)[1][0]

    loss, grads, hess = fusedloss.linear_cross_entropy(x, w, y, reduction=reduction,
                                                       return_hessian=True, **kwargs)
    assert hess.shape == x.shape
    np.testing.assert_array_equal(grads[0], gradient_of(x))
    # rows are independent: one column of every row at a time
    expected = central_difference(gradient_of, x, 1e-5)
    np.testing.assert_allclose(hess, expected, rtol=1e-6, atol=1e-8)
    result = fusedloss.linear_cross_entropy(x, w, y, reduction=reduction, return_hessian=True,
                                            return_argmax=True, **kwargs)
    assert len(result) == 4
    np.testing.assert_allclose(result[2], hess, rtol=1e-15)
    fusedloss.set_backend("numpy")
    try:
        numpy_hess = fusedloss.linear_cross_entropy(x, w, y, reduction=reduction,
                                                    return_hessian=True, **kwargs)[2]
    finally:
        fusedloss.set_backend("native")
    np.testing.assert_allclose(numpy_hess, hess, rtol=1e-12, atol=1e-15)
