"""multiclass_hinge: native kernels vs the float64 NumPy reference, and the contract."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import LAYOUTS, assert_close, layout

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def make(rows, classes, dtype=np.float64, seed=0, batch=None):
    rng = np.random.default_rng(seed)
    shape = (batch if batch is not None else (rows,)) + (classes,)
    # scores on a quarter-unit grid, the label's score shifted by 1/8: every margin term
    # s_j - s_y + margin stays away from its kink at 0 (exact in float32 too)
    x = np.round(rng.standard_normal(shape) * 8) / 4
    y = rng.integers(0, classes, size=shape[:-1])
    np.put_along_axis(x, y[..., None], np.take_along_axis(x, y[..., None], -1) + 0.125, -1)
    return x.astype(dtype), y


def reference(x, y, **kwargs):
    kwargs.setdefault("return_grad", True)
    for key in ("weight", "sample_weight"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.float64)
    return _reference.multiclass_hinge(
        np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64), **kwargs
    )


def check_against_reference(x, y, dtype, reduction, **kwargs):
    loss, grad = fusedloss.multiclass_hinge(x, y, reduction=reduction, return_grad=True, **kwargs)
    value, ref_grad = reference(x, y, reduction=reduction, **kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype and loss.shape == np.shape(y)
    else:
        assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype, scale=max(1.0, float(np.max(np.abs(ref_grad), initial=0))))
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"margin": 0.5},
        {"squared": True},
        {"weight": "class"},
        {"sample_weight": "row"},
        {"margin": 2.0, "squared": True, "weight": "class", "sample_weight": "row"},
    ],
    ids=["plain", "margin", "squared", "weight", "sample_weight", "all"],
)
def test_matches_reference(isa, dtype, reduction, options):
    x, y = make(37, 9, dtype)
    rng = np.random.default_rng(1)
    kwargs = dict(options)
    if kwargs.get("weight") == "class":
        kwargs["weight"] = rng.uniform(0.1, 2.0, 9)
    if kwargs.get("sample_weight") == "row":
        kwargs["sample_weight"] = rng.uniform(-0.5, 2.0, 37)
    check_against_reference(x, y, dtype, reduction, **kwargs)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences(squared, reduction):
    x, y = make(4, 5, seed=3)
    kwargs = dict(
        squared=squared, reduction=reduction, margin=0.9,
        weight=np.array([0.5, 1.0, 2.0, 1.5, 0.7]), sample_weight=np.array([1.0, 0.3, 2.0, 0.9]),
    )
    _, grad = fusedloss.multiclass_hinge(x, y, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.multiclass_hinge(z, y, **kwargs)))

    h = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 1000, 32003])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_equal_scores_give_c_minus_1(isa, classes, dtype):
    x = np.full((3, classes), -0.75, dtype=dtype)
    y = np.array([0, classes - 1, classes // 2])
    loss, grad = fusedloss.multiclass_hinge(x, y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(loss, np.full(3, classes - 1, dtype=dtype))
    assert_close(grad, reference(x, y, reduction="none")[1], dtype)


@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 1000, 32003])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_class_counts_match_reference(isa, classes, dtype):
    x, y = make(3, classes, dtype, seed=classes)
    for reduction in REDUCTIONS:
        check_against_reference(x, y, dtype, reduction)
        check_against_reference(x, y, dtype, reduction, squared=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cs231n_example(isa, dtype):
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], dtype=dtype)
    per_row = fusedloss.multiclass_hinge(s, [0, 1, 2], reduction="none")
    np.testing.assert_allclose(per_row, [2.9, 0.0, 12.9], atol=1e-5)
    mean = fusedloss.multiclass_hinge(s, [0, 1, 2])
    assert mean.dtype == dtype
    assert float(mean) == pytest.approx(5.2667, abs=1e-4)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_empty_batch(dtype):
    x = np.zeros((0, 5), dtype=dtype)
    y = np.zeros(0, dtype=np.int64)
    loss, grad = fusedloss.multiclass_hinge(x, y, return_grad=True)
    assert loss == 0 and loss.dtype == dtype
    assert grad.shape == (0, 5)
    none = fusedloss.multiclass_hinge(x, y, reduction="none")
    assert none.shape == (0,) and none.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_leading_axes(isa, dtype, reduction):
    x, y = make(0, 11, dtype, batch=(3, 5))
    loss, grad = check_against_reference(x, y, dtype, reduction)
    if reduction == "none":
        assert loss.shape == (3, 5)


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_layouts_give_same_numbers(isa, dtype, name):
    x, y = make(16, 9, dtype, seed=5)
    expected_loss, expected_grad = fusedloss.multiclass_hinge(x, y, reduction="none", return_grad=True)
    for variant in [layout(name, x)]:
        loss, grad = fusedloss.multiclass_hinge(variant, y, reduction="none", return_grad=True)
        if name == "list":
            assert_close(loss, expected_loss, dtype, scale=10)
            assert_close(grad, expected_grad, dtype)
        else:
            np.testing.assert_array_equal(loss, expected_loss, err_msg=name)
            np.testing.assert_array_equal(grad, expected_grad, err_msg=name)


@pytest.mark.parametrize("threads", [1, 2, None])
def test_deterministic_across_threads(threads):
    x, y = make(4096, 1000, np.float32, seed=11)
    base_loss, base_grad = fusedloss.multiclass_hinge(x, y, return_grad=True, threads=1)
    for _ in range(2):
        loss, grad = fusedloss.multiclass_hinge(x, y, return_grad=True, threads=threads)
        assert loss.tobytes() == base_loss.tobytes()
        assert np.array_equal(grad.view(np.uint32), base_grad.view(np.uint32))
    a = fusedloss.multiclass_hinge(x, y, squared=True, reduction="sum", threads=1)
    b = fusedloss.multiclass_hinge(x, y, squared=True, reduction="sum", threads=threads)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("return_grad", [False, True])
def test_inputs_never_written(return_grad):
    x, y = make(12, 6, np.float32)
    w = np.linspace(0.5, 1.5, 6)
    sw = np.linspace(0.1, 2.0, 12)
    copies = [a.copy() for a in (x, y, w, sw)]
    fusedloss.multiclass_hinge(x, y, weight=w, sample_weight=sw, return_grad=return_grad)
    for original, copy in zip((x, y, w, sw), copies):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_buffer_and_in_place(isa, dtype):
    x, y = make(10, 7, dtype)
    expected_loss, expected = fusedloss.multiclass_hinge(x, y, squared=True, return_grad=True)
    out = np.full_like(x, np.nan)
    _, grad = fusedloss.multiclass_hinge(x, y, squared=True, return_grad=True, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, expected)
    loss, grad = fusedloss.multiclass_hinge(x, y, squared=True, return_grad=True, out=x)
    assert grad is x and loss == expected_loss
    np.testing.assert_array_equal(x, expected)


def test_float16_computed_in_float32():
    x16, y = make(8, 5, np.float16)
    loss, grad = fusedloss.multiclass_hinge(x16, y, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    loss32, grad32 = fusedloss.multiclass_hinge(x16.astype(np.float32), y, return_grad=True)
    assert loss == loss32.astype(np.float16)
    np.testing.assert_array_equal(grad, grad32.astype(np.float16))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_numpy_backend_matches_native(dtype, reduction):
    x, y = make(25, 8, dtype, seed=9)
    kwargs = dict(weight=np.linspace(0.5, 2, 8), squared=True, reduction=reduction, return_grad=True)
    native = fusedloss.multiclass_hinge(x, y, **kwargs)
    fusedloss.set_backend("numpy")
    numpy_result = fusedloss.multiclass_hinge(x, y, **kwargs)
    for a, b in zip(native, numpy_result):
        assert np.asarray(a).dtype == np.asarray(b).dtype == dtype
        assert_close(a, b, dtype, scale=100)


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_label_out_of_range(backend):
    fusedloss.set_backend(backend)
    x, y = make(6, 4)
    y[2] = 5
    with pytest.raises(ValueError, match=r"label 5 at row 2 .*\[0, 4\)"):
        fusedloss.multiclass_hinge(x, y)
    y[2] = -100  # no ignore_index for the hinge loss
    with pytest.raises(ValueError, match=r"label -100 at row 2 .*\[0, 4\)"):
        fusedloss.multiclass_hinge(x, y, return_grad=True)
    x3, y3 = make(0, 4, batch=(2, 3))
    y3[1, 0] = 4
    with pytest.raises(ValueError, match=r"label 4 at row 3 \(batch index \(1, 0\)\).*\[0, 4\)"):
        fusedloss.multiclass_hinge(x3, y3)


def test_bad_inputs():
    x, y = make(6, 4)
    with pytest.raises(ValueError, match=r"labels: expected shape \(6,\)"):
        fusedloss.multiclass_hinge(x, y.reshape(2, 3))
    with pytest.raises(TypeError, match="float array"):
        fusedloss.multiclass_hinge(x, y.astype(np.float32))
    with pytest.raises(TypeError, match="complex"):
        fusedloss.multiclass_hinge(x + 0j, y)
    with pytest.raises(TypeError, match="scores: expected a real numeric array"):
        fusedloss.multiclass_hinge(x.astype(str), y)
    with pytest.raises(ValueError, match="0-d"):
        fusedloss.multiclass_hinge(3.0, 0)
    with pytest.raises(ValueError, match="C = 0"):
        fusedloss.multiclass_hinge(np.zeros((2, 0)), [0, 0])
    with pytest.raises(ValueError, match="reduction"):
        fusedloss.multiclass_hinge(x, y, reduction="max")
    with pytest.raises(ValueError, match="margin"):
        fusedloss.multiclass_hinge(x, y, margin=np.nan)
    with pytest.raises(ValueError, match="threads"):
        fusedloss.multiclass_hinge(x, y, threads=0)
    with pytest.raises(TypeError, match="threads"):
        fusedloss.multiclass_hinge(x, y, threads=2.0)
    with pytest.raises(ValueError, match=r"weight: expected shape \(4,\)"):
        fusedloss.multiclass_hinge(x, y, weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight: expected finite"):
        fusedloss.multiclass_hinge(x, y, sample_weight=[1, 1, np.inf, 1, 1, 1])
    with pytest.raises(ValueError, match="return_grad=True"):
        fusedloss.multiclass_hinge(x, y, out=np.empty_like(x))
    with pytest.raises(ValueError, match="out: expected dtype"):
        fusedloss.multiclass_hinge(x, y, return_grad=True, out=np.empty_like(x, np.float32))


def test_out_overlapping_labels():
    x, _ = make(6, 4)
    buffer = np.zeros(6 * 4)
    labels_view = buffer[:6].view(np.int64)
    labels_view[:] = [0, 1, 2, 3, 0, 1]
    copy = labels_view.copy()
    with pytest.raises(ValueError, match="out: overlaps another input"):
        fusedloss.multiclass_hinge(x, labels_view, return_grad=True, out=buffer.reshape(6, 4))
    np.testing.assert_array_equal(labels_view, copy)
