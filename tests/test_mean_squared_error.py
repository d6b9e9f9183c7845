"""mean_squared_error: native kernels vs the float64 NumPy reference, and the contract."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import LAYOUTS, assert_close, layout

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def make(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def reference(p, t, **kwargs):
    kwargs.setdefault("return_grad", True)
    if kwargs.get("sample_weight") is not None:
        kwargs["sample_weight"] = np.asarray(kwargs["sample_weight"], dtype=np.float64)
    return _reference.mean_squared_error(
        np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64), **kwargs
    )


def check_against_reference(p, t, dtype, reduction, **kwargs):
    loss, grad = fusedloss.mean_squared_error(p, t, reduction=reduction, return_grad=True, **kwargs)
    value, ref_grad = reference(p, t, reduction=reduction, **kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(p)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype and loss.shape == np.shape(p)
    else:
        assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype, scale=max(1.0, float(np.max(np.abs(ref_grad), initial=0))))
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("shape", [(50,), (13, 7), (3, 4, 5), (2, 1000)], ids=str)
def test_matches_reference(isa, dtype, reduction, weighted, shape):
    p, t = make(shape, dtype)
    kwargs = {}
    if weighted:
        kwargs["sample_weight"] = np.random.default_rng(2).uniform(-0.5, 2.0, shape[0])
    check_against_reference(p, t, dtype, reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_shape", [(), (7,), (1, 7), (13, 1)], ids=str)
def test_broadcasting_target(dtype, reduction, target_shape):
    p, _ = make((13, 7), dtype)
    t = np.random.default_rng(4).standard_normal(target_shape).astype(dtype)
    loss, grad = check_against_reference(p, t, dtype, reduction)
    full = np.broadcast_to(t, p.shape).copy()
    loss_full, grad_full = fusedloss.mean_squared_error(p, full, reduction=reduction, return_grad=True)
    np.testing.assert_array_equal(loss, loss_full)
    np.testing.assert_array_equal(grad, grad_full)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences(reduction):
    p, t = make((3, 4), seed=3)
    kwargs = dict(sample_weight=np.array([0.5, 2.0, 1.2]), reduction=reduction)
    _, grad = fusedloss.mean_squared_error(p, t, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.mean_squared_error(z, t, **kwargs)))

    h = 1e-6
    numeric = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_sanity_facts(isa, dtype):
    p = np.array([0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0], dtype=dtype)
    assert float(fusedloss.mean_squared_error(p, np.eye(10, dtype=dtype)[2])) == pytest.approx(0.0195, abs=1e-6)
    q = np.array([0.1, 0.05, 0.1, 0, 0.05, 0.1, 0, 0.6, 0, 0], dtype=dtype)
    assert float(fusedloss.mean_squared_error(q, np.eye(10, dtype=dtype)[2])) == pytest.approx(0.1195, abs=1e-6)


def test_gradient_is_mean_scaled():
    p, t = make((6, 5))
    _, grad = fusedloss.mean_squared_error(p, t, return_grad=True)
    np.testing.assert_allclose(grad, 2 * (p - t) / p.size, rtol=1e-12)
    loss, grad = fusedloss.mean_squared_error(p, t, sample_weight=np.ones(6), return_grad=True)
    assert float(loss) == pytest.approx(float(np.mean((p - t) ** 2)), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_empty(dtype):
    p = np.zeros((0, 3), dtype=dtype)
    loss, grad = fusedloss.mean_squared_error(p, p, return_grad=True)
    assert loss == 0 and loss.dtype == dtype and grad.shape == (0, 3)
    none = fusedloss.mean_squared_error(np.zeros(0, dtype), np.zeros(0, dtype), reduction="none")
    assert none.shape == (0,) and none.dtype == dtype
    assert fusedloss.mean_squared_error(np.zeros(0, dtype), 0.0, reduction="sum") == 0


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_layouts_give_same_numbers(isa, dtype, name):
    p, t = make((16, 9), dtype, seed=5)
    expected_loss, expected_grad = fusedloss.mean_squared_error(p, t, reduction="none", return_grad=True)
    for variant in [layout(name, p)]:
        loss, grad = fusedloss.mean_squared_error(variant, t, reduction="none", return_grad=True)
        if name == "list":
            assert_close(loss, expected_loss, dtype)
            assert_close(grad, expected_grad, dtype)
        else:
            np.testing.assert_array_equal(loss, expected_loss, err_msg=name)
            np.testing.assert_array_equal(grad, expected_grad, err_msg=name)
    for variant in [layout(name, t)]:
        loss = fusedloss.mean_squared_error(p, variant, reduction="none")
        if name != "list":
            np.testing.assert_array_equal(loss, expected_loss, err_msg=name)


@pytest.mark.parametrize("threads", [1, 2, None])
def test_deterministic_across_threads(threads):
    p, t = make((4096, 1000), np.float32, seed=11)
    base_loss, base_grad = fusedloss.mean_squared_error(p, t, return_grad=True, threads=1)
    for _ in range(2):
        loss, grad = fusedloss.mean_squared_error(p, t, return_grad=True, threads=threads)
        assert loss.tobytes() == base_loss.tobytes()
        assert np.array_equal(grad.view(np.uint32), base_grad.view(np.uint32))


@pytest.mark.parametrize("return_grad", [False, True])
def test_inputs_never_written(return_grad):
    p, t = make((12, 6), np.float32)
    sw = np.linspace(0.1, 2.0, 12)
    copies = [a.copy() for a in (p, t, sw)]
    fusedloss.mean_squared_error(p, t, sample_weight=sw, return_grad=return_grad)
    for original, copy in zip((p, t, sw), copies):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_buffer_and_in_place(dtype):
    p, t = make((10, 7), dtype)
    expected_loss, expected = fusedloss.mean_squared_error(p, t, return_grad=True)
    out = np.full_like(p, np.nan)
    _, grad = fusedloss.mean_squared_error(p, t, return_grad=True, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, expected)
    loss, grad = fusedloss.mean_squared_error(p, t, return_grad=True, out=p)
    assert grad is p and loss == expected_loss
    np.testing.assert_array_equal(p, expected)


def test_float16_computed_in_float32():
    p, t = make((8, 5), np.float16)
    loss, grad = fusedloss.mean_squared_error(p, t, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    loss32, grad32 = fusedloss.mean_squared_error(p.astype(np.float32), t.astype(np.float32), return_grad=True)
    assert loss == loss32.astype(np.float16)
    np.testing.assert_array_equal(grad, grad32.astype(np.float16))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_numpy_backend_matches_native(dtype, reduction):
    p, t = make((25, 8), dtype, seed=9)
    kwargs = dict(sample_weight=np.linspace(0.5, 2, 25), reduction=reduction, return_grad=True)
    native = fusedloss.mean_squared_error(p, t, **kwargs)
    fusedloss.set_backend("numpy")
    numpy_result = fusedloss.mean_squared_error(p, t, **kwargs)
    for a, b in zip(native, numpy_result):
        assert np.asarray(a).dtype == np.asarray(b).dtype == dtype
        assert_close(a, b, dtype)


def test_bad_inputs():
    p, t = make((6, 4))
    with pytest.raises(ValueError, match=r"target: expected a shape that broadcasts to pred's shape \(6, 4\), got \(6, 5\)"):
        fusedloss.mean_squared_error(p, np.zeros((6, 5)))
    with pytest.raises(ValueError, match="broadcasts to pred"):
        fusedloss.mean_squared_error(p[0], p)  # target may not enlarge pred
    with pytest.raises(TypeError, match="pred: expected a real numeric array"):
        fusedloss.mean_squared_error(p + 1j, t)
    with pytest.raises(TypeError, match="target: expected a real numeric array"):
        fusedloss.mean_squared_error(p, t.astype(object))
    with pytest.raises(ValueError, match="reduction"):
        fusedloss.mean_squared_error(p, t, reduction="Mean")
    with pytest.raises(ValueError, match="threads"):
        fusedloss.mean_squared_error(p, t, threads=-1)
    with pytest.raises(TypeError, match="threads"):
        fusedloss.mean_squared_error(p, t, threads=True)
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(6,\)"):
        fusedloss.mean_squared_error(p, t, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="sample_weight: expected finite"):
        fusedloss.mean_squared_error(p, t, sample_weight=[1, 1, 1, np.nan, 1, 1])
    with pytest.raises(ValueError, match="return_grad=True"):
        fusedloss.mean_squared_error(p, t, out=np.empty_like(p))
    with pytest.raises(ValueError, match="C-contiguous"):
        fusedloss.mean_squared_error(p, t, return_grad=True, out=np.empty((4, 6)).T)


def test_out_overlapping_target():
    p, _ = make((6, 4))
    target = np.ones((6, 4))
    copy = target.copy()
    with pytest.raises(ValueError, match="out: overlaps another input"):
        fusedloss.mean_squared_error(p, target, return_grad=True, out=target)
    np.testing.assert_array_equal(target, copy)
