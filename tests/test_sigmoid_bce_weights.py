"""sigmoid_binary_cross_entropy weights in every broadcast form the kernel takes.

The native kernel reads `weight` / `pos_weight` periodically (element k reads entry
k % len(pattern)): a per-class or scalar weight is one short pattern, only one that varies along
the first axis is materialised. Sample weights are expanded per element into tiles of 1024.
Checked here against the float64 NumPy reference, against exact identities that pin down which
weight each element received, and across thread counts.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import assert_close

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def make(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    return x, t


def weight_of(form, shape, seed=1):
    """A weight of the named broadcast form for logits of `shape` (classes on the last axis)."""
    rng = np.random.default_rng(seed)
    classes = shape[-1]
    if form == "scalar":
        return 1.7
    if form == "0-d":
        return np.array(0.6)
    if form == "(C,)":
        return rng.uniform(0.1, 2.0, classes)
    if form == "(1,C)":
        return rng.uniform(0.1, 2.0, (1,) * (len(shape) - 1) + (classes,))
    if form == "(N,1)":  # varies along the first axis: the materialised path
        return rng.uniform(0.1, 2.0, (shape[0],) + (1,) * (len(shape) - 1))
    if form == "full":
        return rng.uniform(-0.5, 2.0, shape)
    if form == "inner":  # varies along every axis but the first: a period of shape[1:]
        return rng.uniform(0.1, 2.0, shape[1:])
    raise AssertionError(form)


def check(x, t, dtype, reduction, **kwargs):
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, reduction=reduction, return_grad=True, **kwargs)
    reference_kwargs = {}
    for key in ("weight", "pos_weight"):  # the reference sees the weights in the logits' dtype
        if kwargs.get(key) is not None:
            reference_kwargs[key] = np.asarray(kwargs[key]).astype(dtype).astype(np.float64)
    if kwargs.get("sample_weight") is not None:
        reference_kwargs["sample_weight"] = np.asarray(kwargs["sample_weight"], np.float64)
    value, reference_grad = _reference.sigmoid_binary_cross_entropy(
        np.asarray(x, np.float64), np.asarray(t, np.float64), reduction=reduction,
        return_grad=True, **reference_kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, reference_grad, dtype,
                 scale=max(1.0, float(np.max(np.abs(reference_grad), initial=0))))
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("form", ["scalar", "0-d", "(C,)", "(1,C)", "(N,1)", "full"])
@pytest.mark.parametrize("shape", [(300, 1), (200, 3), (150, 17), (9, 1000), (6, 5, 17)],
                         ids=str)
def test_weight_forms(isa, dtype, reduction, form, shape):
    x, t = make(shape, dtype)
    check(x, t, dtype, reduction, weight=weight_of(form, shape))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("form", ["scalar", "(C,)", "(1,C)", "(N,1)", "inner"])
@pytest.mark.parametrize("shape", [(300, 1), (200, 3), (150, 17), (9, 1000), (6, 5, 17)],
                         ids=str)
def test_pos_weight_forms(isa, dtype, reduction, form, shape):
    x, t = make(shape, dtype, seed=3)
    check(x, t, dtype, reduction, pos_weight=weight_of(form, shape, seed=4) * 2.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_form, pos_weight_form", [
    ("(C,)", "(C,)"), ("scalar", "(C,)"), ("(N,1)", "scalar"), ("inner", "(1,C)"), ("full", "(C,)"),
], ids=lambda form: form)
@pytest.mark.parametrize("shape", [(257, 1), (300, 3), (120, 17), (5, 1000), (4, 3, 2, 17),
                                   (3, 2500)], ids=str)
def test_combined_with_sample_weight(isa, dtype, reduction, weight_form, pos_weight_form, shape):
    x, t = make(shape, dtype, seed=5)
    sample_weight = np.random.default_rng(6).uniform(-0.5, 2.0, shape[0])
    check(x, t, dtype, reduction, weight=weight_of(weight_form, shape, seed=7),
          pos_weight=weight_of(pos_weight_form, shape, seed=8), sample_weight=sample_weight)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(1000,), (700, 1), (500, 3), (333, 10), (97, 17), (9, 255),
                                   (9, 256), (7, 1000), (3, 2500), (11, 13, 7)], ids=str)
def test_sample_weight_alone(isa, dtype, reduction, shape):
    x, t = make(shape, dtype, seed=9)
    check(x, t, dtype, reduction,
          sample_weight=np.random.default_rng(10).uniform(-0.5, 2.0, shape[0]))


def assert_last_bits(actual, expected):
    """Equal but for a few units of the dtype's epsilon, relative to the largest entry."""
    epsilon = float(np.finfo(actual.dtype).eps)
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=4 * epsilon, atol=4 * epsilon * scale)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1000,), (5000, 1), (1500, 3), (700, 10), (301, 17), (9, 1000),
                                   (3, 2500), (31, 13, 7)], ids=str)
def test_each_element_gets_its_own_weights(isa, dtype, shape):
    """Identities: under "sum" the kernel's gradient factor of element (i, ...) is
    dtype(sample_weight[i]) and its loss is multiplied by it; a weight of any broadcast form
    gives what the same weight written out in full gives. A sample weight or a per-class weight
    read at the wrong element breaks these by O(1); what is allowed is the last bits: the kernel
    walks a per-class pattern in chunks that end with it, and the SIMD body and its remainder
    may fuse a multiply-add differently (an element's chunk position is fixed by the shape,
    never by the thread count)."""
    x, t = make(shape, dtype, seed=11)
    rng = np.random.default_rng(12)
    sample_weight = rng.uniform(-0.5, 2.0, shape[0])
    weight = rng.uniform(0.1, 2.0, shape[-1])
    pos_weight = rng.uniform(0.2, 5.0, shape[-1])
    # per-class weights vs the same values materialised (a full array varies along axis 0)
    plain_losses, plain_grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, reduction="none", return_grad=True)
    full_losses, full_grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=np.broadcast_to(weight, shape).copy(),
        pos_weight=np.broadcast_to(pos_weight, shape).copy(), reduction="none", return_grad=True)
    assert_last_bits(plain_losses, full_losses)
    assert_last_bits(plain_grad, full_grad)
    # sample weights: per element, each sample's weight exactly
    sum_grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, reduction="sum", return_grad=True)[1]
    weighted_losses, weighted_grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, sample_weight=sample_weight,
        reduction="none", return_grad=True)
    per_element = np.broadcast_to(
        sample_weight.astype(dtype).reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    assert_last_bits(weighted_losses, per_element * plain_losses)
    weighted_sum_grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, sample_weight=sample_weight,
        reduction="sum", return_grad=True)[1]
    assert_last_bits(weighted_sum_grad, per_element * sum_grad)
    assert_last_bits(weighted_grad, per_element * sum_grad)  # "none": factor 1 too


@pytest.mark.parametrize("shape", [(4000, 17), (60, 7, 10), (5000, 1), (40, 3000)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_threads_bitwise_identical(shape, reduction):
    x, t = make(shape, np.float32, seed=13)
    rng = np.random.default_rng(14)
    options = [
        dict(weight=rng.uniform(0.1, 2.0, shape[-1]), pos_weight=3.0),
        dict(weight=rng.uniform(0.1, 2.0, (shape[0],) + (1,) * (len(shape) - 1)),
             pos_weight=rng.uniform(0.2, 4.0, shape[-1]),
             sample_weight=rng.uniform(0, 2, shape[0])),
        dict(sample_weight=rng.uniform(0, 2, shape[0])),
    ]
    for kwargs in options:
        results = [fusedloss.sigmoid_binary_cross_entropy(
            x, t, reduction=reduction, return_grad=True, threads=threads, **kwargs)
            for threads in (1, 2, 3)]
        for loss, grad in results[1:]:
            np.testing.assert_array_equal(loss, results[0][0])
            np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_strided_and_fortran_inputs(dtype):
    x, t = make((64, 17), dtype, seed=15)
    rng = np.random.default_rng(16)
    wide_weight = rng.uniform(0.1, 2.0, 34)
    wide_pos_weight = rng.uniform(0.2, 4.0, (17, 2))
    full_weight = rng.uniform(0.1, 2.0, (64, 17))
    sample_weight = rng.uniform(0, 2, 128)
    expected = check(x, t, dtype, "none", weight=wide_weight[::2].copy(),
                     pos_weight=wide_pos_weight[:, 1].copy(), sample_weight=sample_weight[::2].copy())
    strided = fusedloss.sigmoid_binary_cross_entropy(
        np.asfortranarray(x), np.asfortranarray(t), weight=wide_weight[::2],
        pos_weight=wide_pos_weight[:, 1], sample_weight=sample_weight[::2], reduction="none",
        return_grad=True)
    np.testing.assert_array_equal(strided[0], expected[0])
    np.testing.assert_array_equal(strided[1], expected[1])
    # a Fortran-ordered full weight and a reversed one: the materialised path
    contiguous = fusedloss.sigmoid_binary_cross_entropy(x, t, weight=full_weight, pos_weight=2.0,
                                                        reduction="none", return_grad=True)
    fortran = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=np.asfortranarray(full_weight), pos_weight=2.0, reduction="none",
        return_grad=True)
    reversed_weight = full_weight[::-1, ::-1].copy()[::-1, ::-1]
    reversed_ = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=reversed_weight, pos_weight=2.0, reduction="none", return_grad=True)
    for result in (fortran, reversed_):
        np.testing.assert_array_equal(result[0], contiguous[0])
        np.testing.assert_array_equal(result[1], contiguous[1])


def test_gradient_into_logits_with_weights():
    x, t = make((300, 17), np.float32, seed=17)
    rng = np.random.default_rng(18)
    kwargs = dict(weight=rng.uniform(0.1, 2, 17), pos_weight=rng.uniform(0.2, 4, (1, 17)),
                  sample_weight=rng.uniform(0, 2, 300))
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(x, t, return_grad=True, **kwargs)
    buffer = x.copy()
    loss_in_place, out = fusedloss.sigmoid_binary_cross_entropy(
        buffer, t, return_grad=True, out=buffer, **kwargs)
    assert out is buffer and loss_in_place == loss
    np.testing.assert_array_equal(buffer, grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_forward_only_matches_loss_of_gradient_call(dtype):
    x, t = make((130, 17), dtype, seed=19)
    rng = np.random.default_rng(20)
    kwargs = dict(weight=rng.uniform(0.1, 2, 17), pos_weight=1.5,
                  sample_weight=rng.uniform(0, 2, 130))
    for reduction in REDUCTIONS:
        forward = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction=reduction, **kwargs)
        both = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction=reduction,
                                                      return_grad=True, **kwargs)
        np.testing.assert_array_equal(forward, both[0])


@pytest.mark.parametrize("weight, message", [
    (np.ones((2, 17)), "weight: expected a shape that broadcasts"),
    (np.ones(16), "weight: expected a shape that broadcasts"),
    (np.array([1.0, np.nan, 1.0]), "weight"),
])
def test_bad_weight_shapes(weight, message):
    x, t = make((5, 17), np.float64)
    with pytest.raises(ValueError, match=message):
        fusedloss.sigmoid_binary_cross_entropy(x, t, weight=weight)
    with pytest.raises(ValueError, match=message.replace("weight", "pos_weight")):
        fusedloss.sigmoid_binary_cross_entropy(x, t, pos_weight=weight)
