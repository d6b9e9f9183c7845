"""cross_entropy (of given probabilities): native kernels vs the NumPy reference, and the contract."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import assert_close

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
SANITY = np.array([0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0])


def make(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)
    labels = rng.integers(0, shape[-1], shape[:-1])
    soft = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)
    soft[..., 0] = 0  # exact zeros in the targets count 0
    return p, labels, soft


def check_against_reference(p, labels, dtype, reduction, **kwargs):
    loss, grad = fusedloss.cross_entropy(p, labels, reduction=reduction, return_grad=True, **kwargs)
    ref_kwargs = dict(kwargs)
    if ref_kwargs.get("sample_weight") is not None:
        ref_kwargs["sample_weight"] = np.asarray(ref_kwargs["sample_weight"], dtype=np.float64)
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        value, ref_grad = _reference.cross_entropy(
            np.asarray(p, np.float64), targets=labels.astype(np.float64), reduction=reduction,
            return_grad=True, **ref_kwargs)
    else:
        value, ref_grad = _reference.cross_entropy(
            np.asarray(p, np.float64), labels, reduction=reduction, return_grad=True, **ref_kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(p)
    if reduction == "none":
        assert loss.dtype == dtype and loss.shape == np.shape(p)[:-1]
    else:
        assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype, scale=max(1.0, float(np.max(np.abs(ref_grad), initial=0))))
    return loss, grad


def test_sanity_facts(isa):
    assert float(fusedloss.cross_entropy(SANITY, 2)) == pytest.approx(0.510825, abs=1e-6)
    moved = SANITY[[0, 1, 7, 3, 4, 5, 6, 2, 8, 9]]
    assert float(fusedloss.cross_entropy(moved, 2)) == pytest.approx(2.302584, abs=1e-6)
    assert float(fusedloss.cross_entropy(SANITY, np.eye(10)[2])) == pytest.approx(0.510825, abs=1e-6)
    fusedloss.set_backend("numpy")
    assert float(fusedloss.cross_entropy(moved, 2)) == pytest.approx(2.302584, abs=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("targets", ["labels", "soft"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("shape", [(1, 10), (13, 7), (3, 4, 5), (40, 300)], ids=str)
def test_matches_reference(isa, dtype, reduction, targets, weighted, shape):
    p, labels, soft = make(shape, dtype)
    kwargs = {}
    if weighted:
        rows = int(np.prod(shape[:-1]))
        kwargs["sample_weight"] = np.random.default_rng(2).uniform(-0.5, 2.0, rows)
    check_against_reference(p, labels if targets == "labels" else soft, dtype, reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_zero_probabilities_and_eps(isa, dtype):
    p = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=dtype)
    loss, grad = fusedloss.cross_entropy(p, [0, 2], eps=1e-7, reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    check_against_reference(p, np.array([0, 2]), dtype, "sum", eps=1e-3)
    loss0 = fusedloss.cross_entropy(p, [0, 1], eps=0.0, reduction="none")
    assert loss0[0] == np.inf and loss0[1] == pytest.approx(np.log(2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("targets", ["labels", "soft"])
def test_finite_differences(reduction, targets):
    p, labels, soft = make((3, 4), seed=3)
    p = p + 0.1
    kwargs = dict(sample_weight=np.array([0.5, 2.0, 1.2]), reduction=reduction, eps=1e-4)
    y = labels if targets == "labels" else soft
    _, grad = fusedloss.cross_entropy(p, y, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.cross_entropy(z, y, **kwargs)))

    h = 1e-7
    numeric = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_threads_bitwise_identical():
    p, labels, soft = make((2000, 50), np.float32)
    for y in (labels, soft):
        results = [fusedloss.cross_entropy(p, y, return_grad=True, threads=n) for n in (1, 3, 8)]
        for loss, grad in results[1:]:
            assert loss == results[0][0]
            np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_input(reduction):
    p = np.zeros((0, 4))
    for y in (np.zeros(0, dtype=np.int64), p):
        loss, grad = fusedloss.cross_entropy(p, y, reduction=reduction, return_grad=True)
        assert grad.shape == (0, 4)
        if reduction == "none":
            assert loss.shape == (0,)
        else:
            assert float(loss) == 0.0


def test_out_in_place_and_layouts():
    p, labels, soft = make((6, 5))
    loss, grad = fusedloss.cross_entropy(p, labels, return_grad=True)
    buffer = p.copy()
    loss2, out = fusedloss.cross_entropy(buffer, labels, return_grad=True, out=buffer)
    assert out is buffer and loss2 == loss
    np.testing.assert_array_equal(buffer, grad)
    wide = np.zeros((6, 8))
    wide[:, :5] = p
    loss3, grad3 = fusedloss.cross_entropy(wide[:, :5], labels.astype(np.uint8), return_grad=True)
    assert loss3 == loss
    np.testing.assert_array_equal(grad3, grad)
    assert fusedloss.cross_entropy(np.asfortranarray(p), soft) == fusedloss.cross_entropy(p, soft)


def test_inputs_not_written():
    p, labels, soft = make((5, 4))
    p.flags.writeable = False
    soft.flags.writeable = False
    fusedloss.cross_entropy(p, labels, return_grad=True)
    fusedloss.cross_entropy(p, soft, return_grad=True)


@pytest.mark.parametrize(
    "labels, kwargs, error, match",
    [
        ([0, 5], {}, ValueError, r"label 5 at row 1 .*\[0, 5\)"),
        ([0, -1], {}, ValueError, "label -1 at row 1"),
        ([0], {}, ValueError, "labels: expected shape"),
        (np.zeros((2, 4)), {}, ValueError, "soft targets"),
        (np.array(["a", "b"]), {}, TypeError, "labels"),
        ([0, 1], dict(eps=-1.0), ValueError, "eps"),
        ([0, 1], dict(eps=np.nan), ValueError, "eps"),
        ([0, 1], dict(sample_weight=[1.0]), ValueError, "sample_weight"),
        ([0, 1], dict(sample_weight=[1.0, np.inf]), ValueError, "sample_weight"),
        ([0, 1], dict(reduction="max"), ValueError, "reduction"),
        ([0, 1], dict(threads=-2), ValueError, "threads"),
        ([0, 1], dict(out=np.zeros((2, 5))), ValueError, "return_grad"),
        ([0, 1], dict(return_grad=True, out=np.zeros((2, 4))), ValueError, "out"),
    ],
)
def test_bad_inputs(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        fusedloss.cross_entropy(np.full((2, 5), 0.2), labels, **kwargs)


def test_bad_input_types():
    with pytest.raises(TypeError, match="probs"):
        fusedloss.cross_entropy(np.ones((2, 3), complex), [0, 1])
    with pytest.raises(ValueError, match="probs"):
        fusedloss.cross_entropy(np.ones((2, 0)), [0, 1])
    fusedloss.set_backend("numpy")
    with pytest.raises(ValueError, match="label 5 at row 1"):
        fusedloss.cross_entropy(np.full((2, 5), 0.2), [0, 5])
