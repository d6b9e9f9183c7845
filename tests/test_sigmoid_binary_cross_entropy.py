"""sigmoid_binary_cross_entropy: native kernels vs the float64 NumPy reference, and the contract."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import assert_close

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def make(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    return x, t


def reference(x, t, **kwargs):
    kwargs.setdefault("return_grad", True)
    for key in ("weight", "pos_weight", "sample_weight"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.float64)
    return _reference.sigmoid_binary_cross_entropy(
        np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64), **kwargs
    )


def check_against_reference(x, t, dtype, reduction, **kwargs):
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, reduction=reduction, return_grad=True, **kwargs
    )
    ref_kwargs = dict(kwargs)
    for key in ("weight", "pos_weight"):  # the reference sees what the kernel sees
        if ref_kwargs.get(key) is not None:
            ref_kwargs[key] = np.asarray(ref_kwargs[key]).astype(dtype)
    value, ref_grad = reference(x, t, reduction=reduction, **ref_kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype and loss.shape == np.shape(x)
    else:
        assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype, scale=max(1.0, float(np.max(np.abs(ref_grad), initial=0))))
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "sample_weight", "all"])
@pytest.mark.parametrize("shape", [(50,), (13, 7), (3, 4, 5), (2, 1000)], ids=str)
def test_matches_reference(isa, dtype, reduction, weights, shape):
    x, t = make(shape, dtype)
    rng = np.random.default_rng(2)
    kwargs = {}
    if weights in ("weight", "all"):
        kwargs["weight"] = rng.uniform(0.1, 2.0, shape)
    if weights in ("pos_weight", "all"):
        kwargs["pos_weight"] = rng.uniform(0.2, 5.0, shape[-1])
    if weights in ("sample_weight", "all"):
        kwargs["sample_weight"] = rng.uniform(-0.5, 2.0, shape[0])
    check_against_reference(x, t, dtype, reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_broadcasting_weights_and_targets(dtype):
    x, _ = make((6, 5), dtype)
    t = np.random.default_rng(1).uniform(0, 1, (5,)).astype(dtype)
    weight = np.linspace(0.5, 1.5, 6)[:, None]
    loss, grad = check_against_reference(x, t, dtype, "mean", weight=weight, pos_weight=3.0)
    full = dict(weight=np.broadcast_to(weight, x.shape).copy(),
                pos_weight=np.full(x.shape, 3.0))
    loss_full, grad_full = fusedloss.sigmoid_binary_cross_entropy(
        x, np.broadcast_to(t, x.shape).copy(), return_grad=True, **full)
    np.testing.assert_array_equal(loss, loss_full)
    np.testing.assert_array_equal(grad, grad_full)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_large_logits_are_finite_and_correct(isa, dtype):
    x = np.array([100.0, -100.0, 1e30, -1e30, 30.0, -30.0, 0.0] * 3, dtype=dtype)
    t = np.array([0.0, 1.0, 0.25, 0.75, 1.0, 0.0, 0.5] * 3, dtype=dtype)
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    value, ref_grad = reference(x, t, reduction="none")
    np.testing.assert_allclose(loss.astype(np.float64), value, rtol=2e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=1e-6, atol=1e-30)
    expected = [100.0, 100.0, 0.75e30, 0.75e30]
    np.testing.assert_allclose(loss[:4].astype(np.float64), expected, rtol=1e-6)
    # exp(-|x|) is kept where it matters: t = 1 at x = 30 gives exp(-30), not 0
    np.testing.assert_allclose(float(loss[4]), np.log1p(np.exp(-30.0)), rtol=1e-5)
    np.testing.assert_allclose(float(loss[5]), np.log1p(np.exp(-30.0)), rtol=1e-5)
    assert float(loss[6]) == pytest.approx(np.log(2.0), rel=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences(reduction):
    x, t = make((3, 4), seed=3)
    kwargs = dict(weight=np.random.default_rng(5).uniform(0.5, 2, (3, 4)),
                  pos_weight=np.array([0.5, 1.0, 2.0, 3.0]),
                  sample_weight=np.array([0.5, 2.0, 1.2]), reduction=reduction)
    _, grad = fusedloss.sigmoid_binary_cross_entropy(x, t, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.sigmoid_binary_cross_entropy(z, t, **kwargs)))

    h = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_threads_bitwise_identical():
    x, t = make((300, 1000), np.float32)
    results = [fusedloss.sigmoid_binary_cross_entropy(x, t, return_grad=True, threads=n)
               for n in (1, 2, 5)]
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_input(reduction):
    x = np.zeros((0, 3))
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(x, x, reduction=reduction, return_grad=True)
    assert grad.shape == (0, 3)
    if reduction == "none":
        assert loss.shape == (0, 3)
    else:
        assert float(loss) == 0.0


def test_numpy_backend_and_out_in_place():
    x, t = make((4, 6))
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(x, t, return_grad=True)
    buffer = x.copy()
    loss_inplace, out = fusedloss.sigmoid_binary_cross_entropy(buffer, t, return_grad=True, out=buffer)
    assert out is buffer and loss_inplace == loss
    np.testing.assert_array_equal(buffer, grad)
    fusedloss.set_backend("numpy")
    loss_np, grad_np = fusedloss.sigmoid_binary_cross_entropy(x, t, return_grad=True)
    assert_close(loss_np, loss, np.float64)
    assert_close(grad_np, grad, np.float64)


def test_noncontiguous_and_int_input():
    x, t = make((8, 6))
    expected = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction="none")
    np.testing.assert_array_equal(
        fusedloss.sigmoid_binary_cross_entropy(np.asfortranarray(x), t[:, ::-1][:, ::-1], reduction="none"),
        expected)
    loss = fusedloss.sigmoid_binary_cross_entropy([[1, -2]], [[1, 0]])
    assert loss.dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(targets=np.zeros((4, 6))), ValueError, "targets"),
        (dict(weight=np.ones(5)), ValueError, "weight"),
        (dict(pos_weight=np.ones(4)), ValueError, "pos_weight"),
        (dict(pos_weight=np.array([np.nan] * 3)), ValueError, "pos_weight"),
        (dict(weight=np.array([np.inf, 1, 1])), ValueError, "weight"),
        (dict(sample_weight=np.ones(3)), ValueError, "sample_weight"),
        (dict(reduction="avg"), ValueError, "reduction"),
        (dict(threads=0), ValueError, "threads"),
        (dict(out=np.zeros((2, 3))), ValueError, "return_grad"),
        (dict(targets=np.array(["a", "b", "c"])), TypeError, "targets"),
        (dict(logits=np.ones((2, 3), complex)), TypeError, "logits"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    arguments = dict(logits=np.zeros((2, 3)), targets=np.zeros((2, 3)))
    arguments.update(kwargs)
    logits = arguments.pop("logits")
    targets = arguments.pop("targets")
    with pytest.raises(error, match=match):
        fusedloss.sigmoid_binary_cross_entropy(logits, targets, **arguments)


def test_inputs_not_written():
    x, t = make((5, 4))
    x.flags.writeable = False
    t.flags.writeable = False
    fusedloss.sigmoid_binary_cross_entropy(x, t, weight=np.ones(4), pos_weight=2.0, return_grad=True)
