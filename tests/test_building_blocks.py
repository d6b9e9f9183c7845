"""softmax / log_softmax / logsumexp and the weight penalties: native kernels vs the float64
NumPy reference on every ISA, infinite rows, out= / accumulate=, bad inputs, determinism."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

from conftest import assert_close

DTYPES = [np.float32, np.float64]
ROW_OPS = {
    "logsumexp": (fusedloss.logsumexp, _reference.logsumexp),
    "softmax": (fusedloss.softmax, _reference.softmax),
    "log_softmax": (fusedloss.log_softmax, _reference.log_softmax),
}
PENALTIES = {
    "l2": (lambda w, **kw: fusedloss.l2_penalty(w, 0.3, **kw), dict(lam=0.3)),
    "l1": (lambda w, **kw: fusedloss.l1_penalty(w, 0.3, **kw), dict(lam=0.3)),
    "elastic_net": (lambda w, **kw: fusedloss.elastic_net_penalty(w, 0.3, 0.7, **kw),
                    dict(lam=0.3, beta=0.7)),
}


def reference_penalty(kind, w, return_grad=False):
    params = PENALTIES[kind][1]
    return _reference.penalty(np.asarray(w, dtype=np.float64), kind, params["lam"],
                              params.get("beta", 0.0), return_grad)


def row_scale(name, x):
    # log_softmax / logsumexp values grow with |x|: compare with an absolute scale to match.
    return 1.0 if name == "softmax" else max(1.0, float(np.abs(x).max(initial=0.0)))


# ---- row operations ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROW_OPS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 1), (6, 7), (3, 1000), (0, 7), (2, 3, 7), (7,), (4, 2, 1, 5)])
def test_row_ops_match_reference(isa, name, dtype, shape):
    rng = np.random.default_rng(sum(shape) + len(name))
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    before = x.copy()
    native, reference = ROW_OPS[name]
    result = native(x)
    expected = reference(x)
    assert np.asarray(result).dtype == dtype
    assert_close(result, expected, dtype, row_scale(name, x))
    np.testing.assert_array_equal(x, before)  # input never written


@pytest.mark.parametrize("name", sorted(ROW_OPS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_ops_strided_and_other_layouts(isa, name, dtype):
    rng = np.random.default_rng(3)
    base = (rng.standard_normal((10, 13)) * 3).astype(dtype)
    native, reference = ROW_OPS[name]
    expected = reference(base)
    wide = np.zeros((20, 20), dtype=dtype)
    wide[::2, :13] = base
    strided = wide[::2, :13]
    reversed_rows = base[::-1].copy()[::-1]
    fortran = np.asfortranarray(base)
    readonly = base.copy()
    readonly.flags.writeable = False
    for variant in (strided, reversed_rows, fortran, readonly, base.tolist()):
        assert_close(native(variant if not isinstance(variant, list) else np.asarray(variant, dtype)),
                     expected, dtype, row_scale(name, base))
    np.testing.assert_array_equal(wide[::2, :13], base)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_infinite_rows(isa, dtype):
    inf = np.inf
    x = np.array([
        [-inf, -inf, -inf],
        [1.0, inf, 2.0],
        [0.0, -inf, 1.0],
        [np.nan, 0.0, 1.0],
        [1.0, 2.0, 3.0],
    ], dtype=dtype)
    lse = fusedloss.logsumexp(x)
    assert lse[0] == -inf
    assert lse[1] == inf
    assert_close(lse[2], np.log(np.exp(0.0) + np.exp(1.0)), dtype)
    assert np.isnan(lse[3])
    assert_close(lse[4], _reference.logsumexp(x[4]), dtype)
    assert np.isnan(lse).sum() == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_infinite_and_nan_rows(isa, dtype):
    x = np.array([[0.0, -np.inf, 1.0], [np.nan, 0.0, 1.0], [2.0, 2.0, -np.inf]], dtype=dtype)
    s = fusedloss.softmax(x)
    assert s[0, 1] == 0.0 and np.isfinite(s[0]).all()
    assert_close(s[0].sum(), 1.0, dtype)
    assert np.isnan(s[1]).all()
    assert_close(s[2], [0.5, 0.5, 0.0], dtype)
    ls = fusedloss.log_softmax(x)
    assert ls[0, 1] == -np.inf and np.isfinite(ls[0, [0, 2]]).all()
    assert np.isnan(ls[1]).all() and not np.isnan(ls[[0, 2]]).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log(isa, dtype):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 100)) * 5).astype(dtype)
    s = fusedloss.softmax(x)
    assert_close(s.sum(axis=-1), np.ones(64), dtype, 10)
    assert (s >= 0).all()
    with np.errstate(divide="ignore"):
        logs = np.log(s.astype(np.float64))
    finite = np.isfinite(logs)
    np.testing.assert_allclose(fusedloss.log_softmax(x)[finite], logs[finite],
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)
    # The gradient of logsumexp is softmax (central differences in float64).
    if dtype == np.float64:
        row = x[0].astype(np.float64)
        h = 1e-6
        numeric = np.array([
            (fusedloss.logsumexp(row + h * e) - fusedloss.logsumexp(row - h * e)) / (2 * h)
            for e in np.eye(row.size)
        ])
        np.testing.assert_allclose(numeric, s[0], atol=1e-8)


@pytest.mark.parametrize("name", sorted(ROW_OPS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_ops_out(isa, name, dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 9)).astype(dtype)
    native, reference = ROW_OPS[name]
    shape = x.shape[:-1] if name == "logsumexp" else x.shape
    out = np.full(shape, 123.0, dtype=dtype)
    result = native(x, out=out)
    assert result is out
    assert_close(out, reference(x), dtype, row_scale(name, x))
    if name != "logsumexp":  # in place
        y = x.copy()
        assert native(y, out=y) is y
        assert_close(y, reference(x), dtype, row_scale(name, x))


def test_row_ops_float16_and_integer_inputs():
    x16 = np.array([[0.5, 1.5, -1.0]], dtype=np.float16)
    assert fusedloss.softmax(x16).dtype == np.float16
    out = np.zeros(1, dtype=np.float16)
    assert fusedloss.logsumexp(x16, out=out) is out
    assert abs(float(out[0]) - _reference.logsumexp(x16.astype(np.float64))[0]) < 1e-2
    assert fusedloss.logsumexp(np.array([1, 2, 3])).dtype == np.float64
    assert np.ndim(fusedloss.logsumexp([1.0, 2.0])) == 0


@pytest.mark.parametrize("name", sorted(ROW_OPS))
def test_row_ops_bad_inputs(name):
    native = ROW_OPS[name][0]
    x = np.ones((3, 4))
    good_shape = (3,) if name == "logsumexp" else (3, 4)
    with pytest.raises(ValueError):
        native(x, out=np.zeros((5,)))
    with pytest.raises(ValueError):
        native(x, out=np.zeros(good_shape, dtype=np.float32))
    with pytest.raises(TypeError):
        native(x, out=[0.0] * 3)
    with pytest.raises(ValueError):
        native(np.float64(1.0))
    with pytest.raises(TypeError):
        native(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        native(np.ones(3, dtype=complex))
    with pytest.raises(ValueError):
        native(x, threads=0)
    readonly = np.zeros(good_shape)
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        native(x, out=readonly)


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(3, 0), (0,), (2, 4, 0), (0, 0)], ids=str)
def test_row_ops_empty_class_axis(backend, dtype, shape):
    # SPEC "Accuracy at any offset": an empty class axis gives the empty result; logsumexp is
    # -inf per row (the identity of logaddexp: np.logaddexp.reduce / scipy give the same).
    fusedloss.set_backend(backend)
    x = np.zeros(shape, dtype=dtype)
    batch = shape[:-1]
    expected_lse = np.full(batch, np.logaddexp.reduce(np.zeros(0)))
    assert np.all(expected_lse == -np.inf)
    for kwargs in ({}, {"threads": 1}, {"threads": 2}):
        lse = fusedloss.logsumexp(x, **kwargs)
        assert np.shape(lse) == batch and lse.dtype == dtype
        np.testing.assert_array_equal(lse, expected_lse)
        for name in ("softmax", "log_softmax"):
            result = ROW_OPS[name][0](x, **kwargs)
            assert result.shape == shape and result.dtype == dtype
    lse_out = np.zeros(batch, dtype=dtype)
    assert fusedloss.logsumexp(x, out=lse_out, threads=2) is lse_out
    np.testing.assert_array_equal(lse_out, expected_lse)
    for name in ("softmax", "log_softmax"):
        out = np.zeros(shape, dtype=dtype)
        assert ROW_OPS[name][0](x, out=out, threads=1) is out
        assert ROW_OPS[name][0](out, out=out) is out  # in place
    # the reference (the test oracle) agrees
    np.testing.assert_array_equal(_reference.logsumexp(x), expected_lse)
    assert _reference.softmax(x).shape == _reference.log_softmax(x).shape == shape
    # the bad-argument checks still hold on an empty class axis
    with pytest.raises(ValueError, match="out: expected shape"):
        fusedloss.logsumexp(x, out=np.zeros(batch + (1,), dtype=dtype))
    with pytest.raises(ValueError, match="threads"):
        fusedloss.softmax(x, threads=0)


@pytest.mark.parametrize("name", sorted(ROW_OPS))
def test_row_ops_numpy_backend_matches(name):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 11))
    native = ROW_OPS[name][0](x)
    fusedloss.set_backend("numpy")
    np.testing.assert_allclose(ROW_OPS[name][0](x), native, rtol=1e-12, atol=1e-12)


def test_logsumexp_deterministic_across_threads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 1000)).astype(np.float32)
    one = fusedloss.logsumexp(x, threads=1)
    two = fusedloss.logsumexp(x, threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(fusedloss.softmax(x, threads=1), fusedloss.softmax(x, threads=2))


# ---- penalties --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PENALTIES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (1000,), (0,), (3, 4, 5), ()])
def test_penalties_match_reference(isa, kind, dtype, shape):
    rng = np.random.default_rng(len(shape) + 17)
    w = rng.standard_normal(shape).astype(dtype)
    if w.size > 2:
        w.reshape(-1)[1] = 0.0
    before = w.copy()
    function = PENALTIES[kind][0]
    expected_value, expected_grad = reference_penalty(kind, w, True)
    value = function(w)
    assert isinstance(value, np.generic) and value.dtype == dtype
    assert_close(value, expected_value, dtype, max(1.0, w.size))
    value, grad = function(w, return_grad=True)
    assert grad.dtype == dtype and grad.shape == w.shape
    assert_close(value, expected_value, dtype, max(1.0, w.size))
    assert_close(grad, expected_grad, dtype)
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("kind", sorted(PENALTIES))
def test_penalty_gradient_finite_differences(kind):
    rng = np.random.default_rng(2)
    w = rng.standard_normal(20)
    w[np.abs(w) < 0.05] = 0.5  # keep away from the kink of |w|
    function = PENALTIES[kind][0]
    _, grad = function(w, return_grad=True)
    h = 1e-6
    numeric = np.array([
        (float(function(w + h * e)) - float(function(w - h * e))) / (2 * h) for e in np.eye(w.size)
    ])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_l1_subgradient_is_zero_at_zero():
    _, grad = fusedloss.l1_penalty(np.array([0.0, -0.0, 2.0]), 1.5, return_grad=True)
    assert grad.tolist() == [0.0, 0.0, 1.5]
    _, grad = fusedloss.elastic_net_penalty(np.zeros(3), 1.5, 2.0, return_grad=True)
    assert grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("kind", sorted(PENALTIES))
@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
def test_penalty_out_and_accumulate(isa, kind, dtype):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((5, 6)).astype(dtype)
    function = PENALTIES[kind][0]
    _, expected_grad = reference_penalty(kind, w, True)
    tol = 1e-2 if dtype == np.float16 else 1e-5

    out = np.full(w.shape, 9.0, dtype=dtype)
    value, grad = function(w, return_grad=True, out=out)
    assert grad is out
    np.testing.assert_allclose(out, expected_grad, rtol=tol, atol=tol)

    existing = rng.standard_normal(w.shape).astype(dtype)
    out = existing.copy()
    value2, grad = function(w, return_grad=True, out=out, accumulate=True)
    assert grad is out and value2 == value
    np.testing.assert_allclose(out, existing.astype(np.float64) + expected_grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", sorted(PENALTIES))
def test_penalty_numpy_backend_matches(kind):
    rng = np.random.default_rng(8)
    w = rng.standard_normal(50)
    function = PENALTIES[kind][0]
    value, grad = function(w, return_grad=True)
    existing = rng.standard_normal(50)
    out_native = existing.copy()
    function(w, return_grad=True, out=out_native, accumulate=True)
    fusedloss.set_backend("numpy")
    value_np, grad_np = function(w, return_grad=True)
    np.testing.assert_allclose(value_np, value, rtol=1e-12)
    np.testing.assert_allclose(grad_np, grad, rtol=1e-12)
    out_np = existing.copy()
    function(w, return_grad=True, out=out_np, accumulate=True)
    np.testing.assert_allclose(out_np, out_native, rtol=1e-12)


def test_penalty_strided_and_list_inputs():
    base = np.arange(-5.0, 5.0)
    wide = np.zeros(20)
    wide[::2] = base
    strided = wide[::2]
    assert fusedloss.l2_penalty(strided, 2.0) == fusedloss.l2_penalty(base, 2.0)
    assert fusedloss.l1_penalty(base.tolist(), 2.0) == 2.0 * np.abs(base).sum()
    _, grad = fusedloss.l2_penalty(base[::-1], 1.0, return_grad=True)
    np.testing.assert_array_equal(grad, 2.0 * base[::-1])
    np.testing.assert_array_equal(wide[::2], base)


@pytest.mark.parametrize("kind", sorted(PENALTIES))
def test_penalty_bad_inputs(kind):
    function = PENALTIES[kind][0]
    w = np.ones(4)
    with pytest.raises(ValueError):  # out wrong shape
        function(w, return_grad=True, out=np.zeros(5))
    with pytest.raises(ValueError):  # out wrong dtype
        function(w, return_grad=True, out=np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError):
        function(w, return_grad=True, out=[0.0] * 4)
    with pytest.raises(ValueError):  # out without return_grad
        function(w, out=np.zeros(4))
    with pytest.raises(ValueError):  # accumulate without out
        function(w, return_grad=True, accumulate=True)
    with pytest.raises(ValueError):
        function(w, return_grad=True, out=np.zeros(8)[::2])
    with pytest.raises(TypeError):
        function(np.array(["x"]))
    with pytest.raises(ValueError):
        function(w, threads=-1)


@pytest.mark.parametrize("lam", [-1.0, np.inf, -np.inf, np.nan])
def test_penalty_lam_must_be_finite_and_nonnegative(lam):
    w = np.ones(3)
    for call in (
        lambda: fusedloss.l2_penalty(w, lam),
        lambda: fusedloss.l1_penalty(w, lam),
        lambda: fusedloss.elastic_net_penalty(w, lam, 0.5),
        lambda: fusedloss.elastic_net_penalty(w, 0.5, lam),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError):
        fusedloss.l2_penalty(w, "1.0")
    with pytest.raises(TypeError):
        fusedloss.l2_penalty(w, None)


def test_penalty_core_checks():
    from fusedloss import _core

    w = np.ones(3)
    with pytest.raises(ValueError):
        _core.penalty(w, 0, -1.0, 0.0, False, False, None, 0)
    with pytest.raises(ValueError):
        _core.penalty(w, 0, 1.0, 0.0, True, True, None, 0)
    with pytest.raises(ValueError):
        _core.penalty(w, 7, 1.0, 0.0, False, False, None, 0)
    with pytest.raises(ValueError):
        _core.row_softmax(np.ones((2, 3)), 5, None, 0)
    x = np.ones((2, 3))
    with pytest.raises(ValueError):
        _core.row_softmax(x, 0, x.reshape(-1)[:2], 0)  # out overlaps the input


def test_penalty_deterministic_across_threads():
    rng = np.random.default_rng(1)
    w = rng.standard_normal(10**6)
    one = fusedloss.l2_penalty(w, 0.1, threads=1)
    two = fusedloss.l2_penalty(w, 0.1, threads=2)
    assert one == two
    w32 = w.astype(np.float32)
    assert fusedloss.elastic_net_penalty(w32, 0.1, 0.5, threads=1) == \
        fusedloss.elastic_net_penalty(w32, 0.1, 0.5, threads=2)
    _, g1 = fusedloss.l1_penalty(w, 0.1, return_grad=True, threads=1)
    _, g2 = fusedloss.l1_penalty(w, 0.1, return_grad=True, threads=2)
    np.testing.assert_array_equal(g1, g2)
