"""softmax_cross_entropy: native kernels vs the float64 NumPy reference, and the contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import LAYOUTS, assert_close, layout, tolerances

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def make(rows, classes, dtype=np.float64, seed=0, batch=None):
    rng = np.random.default_rng(seed)
    shape = (batch if batch is not None else (rows,)) + (classes,)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = rng.integers(0, classes, size=shape[:-1])
    return x, y


def reference(x, y, **kwargs):
    kwargs.setdefault("return_grad", True)
    for key in ("weight", "sample_weight"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.float64)
    return _reference.softmax_cross_entropy(
        np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64), **kwargs
    )


def check_against_reference(x, y, dtype, reduction, **kwargs):
    loss, grad = fusedloss.softmax_cross_entropy(
        x, y, reduction=reduction, return_grad=True, **kwargs
    )
    value, ref_grad = reference(x, y, reduction=reduction, **kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert loss.shape == np.shape(y)
    else:
        assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype)
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": "class"},
        {"sample_weight": "row"},
        {"ignore_index": 1},
        {"weight": "class", "sample_weight": "row", "ignore_index": 2},
    ],
    ids=["plain", "weight", "sample_weight", "ignore_index", "all"],
)
def test_matches_reference(isa, dtype, reduction, options):
    x, y = make(37, 9, dtype)
    rng = np.random.default_rng(1)
    kwargs = dict(options)
    if kwargs.get("weight") == "class":
        kwargs["weight"] = rng.uniform(0.1, 2.0, 9)
    if kwargs.get("sample_weight") == "row":
        kwargs["sample_weight"] = rng.uniform(-0.5, 2.0, 37)
    if "ignore_index" in kwargs:
        y[::3] = kwargs["ignore_index"] if kwargs["ignore_index"] != 1 else y[::3]
    check_against_reference(x, y, dtype, reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_forward_only_matches_with_grad(dtype, reduction):
    x, y = make(20, 7, dtype)
    loss_only = fusedloss.softmax_cross_entropy(x, y, reduction=reduction)
    loss, _ = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, return_grad=True)
    assert_close(loss_only, loss, dtype)


def test_ignore_index_rows_have_zero_loss_and_grad(isa):
    x, y = make(10, 5)
    y[[1, 4]] = -100
    loss, grad = fusedloss.softmax_cross_entropy(x, y, reduction="none", return_grad=True)
    assert loss[1] == 0 and loss[4] == 0
    assert not grad[[1, 4]].any()
    mean = fusedloss.softmax_cross_entropy(x, y)
    assert mean == pytest.approx(loss.sum() / 8, rel=1e-12)


def test_all_rows_ignored_gives_zero_not_nan(isa):
    x, _ = make(4, 3)
    y = np.full(4, -100)
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    assert loss == 0 and not np.isnan(loss)
    assert not grad.any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences(reduction):
    x, y = make(4, 5, seed=3)
    w = np.array([0.5, 1.0, 2.0, 1.5, 0.7])
    sw = np.array([1.0, 0.3, 2.0, 0.9])
    kwargs = dict(weight=w, sample_weight=sw, reduction=reduction)
    _, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.softmax_cross_entropy(z, y, **kwargs)))

    h = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 1000, 32003])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_equal_logits_give_log_c(isa, classes, dtype):
    x = np.full((3, classes), 0.25, dtype=dtype)
    y = np.array([0, classes - 1, classes // 2])
    loss, grad = fusedloss.softmax_cross_entropy(x, y, reduction="none", return_grad=True)
    rtol, _ = tolerances(dtype)
    np.testing.assert_allclose(loss, math.log(classes), rtol=rtol * 10, atol=1e-6)
    assert_close(grad, reference(x, y, reduction="none")[1], dtype)


# (C <= 32: the small-C tiles, C known at compile time up to 16; 31 / 32 / 33: the options'
# tiles, the plain tiles and the row path end there, row_softmax.inl)
@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 17, 24, 31, 32, 33, 1000, 32003])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_class_counts_match_reference(isa, classes, dtype):
    x, y = make(3 if classes > 33 else 300, classes, dtype, seed=classes)
    for reduction in REDUCTIONS:
        check_against_reference(x, y, dtype, reduction)


def test_cs231n_example():
    loss = fusedloss.softmax_cross_entropy(np.array([[3.2, 5.1, -1.7]]), [0])
    assert float(loss) == pytest.approx(2.0404, abs=5e-5)
    loss32 = fusedloss.softmax_cross_entropy(np.array([[3.2, 5.1, -1.7]], np.float32), [0])
    assert loss32.dtype == np.float32
    assert float(loss32) == pytest.approx(2.0404, abs=5e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_empty_batch(dtype):
    x = np.zeros((0, 5), dtype=dtype)
    y = np.zeros(0, dtype=np.int64)
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    assert loss == 0 and loss.dtype == dtype
    assert grad.shape == (0, 5) and grad.dtype == dtype
    assert fusedloss.softmax_cross_entropy(x, y, reduction="sum") == 0
    none = fusedloss.softmax_cross_entropy(x, y, reduction="none")
    assert none.shape == (0,) and none.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_leading_axes(isa, dtype, reduction):
    x, y = make(0, 11, dtype, batch=(3, 5))
    loss, grad = check_against_reference(x, y, dtype, reduction)
    assert grad.shape == (3, 5, 11)
    if reduction == "none":
        assert loss.shape == (3, 5)


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_layouts_give_same_numbers(isa, dtype, name):
    x, y = make(16, 9, dtype, seed=5)
    expected_loss, expected_grad = fusedloss.softmax_cross_entropy(
        x, y, reduction="none", return_grad=True
    )
    for variant in [layout(name, x)]:
        loss, grad = fusedloss.softmax_cross_entropy(
            variant, y, reduction="none", return_grad=True
        )
        if name == "list":
            assert_close(loss, expected_loss, dtype)
            assert_close(grad, expected_grad, dtype)
        else:
            np.testing.assert_array_equal(loss, expected_loss, err_msg=name)
            np.testing.assert_array_equal(grad, expected_grad, err_msg=name)
    # labels as a list and in other integer dtypes
    for labels in (y.tolist(), y.astype(np.int32), y.astype(np.uint8), y[::-1].copy()[::-1]):
        loss = fusedloss.softmax_cross_entropy(x, labels, reduction="none")
        np.testing.assert_array_equal(loss, expected_loss)


def test_int_logits_computed_in_float64():
    x = np.array([[1, 2, 3], [0, 0, 0]])
    loss = fusedloss.softmax_cross_entropy(x, [2, 0])
    assert loss.dtype == np.float64
    assert float(loss) == pytest.approx(float(reference(x, [2, 0])[0]), rel=1e-12)


@pytest.mark.parametrize("threads", [1, 2, None])
def test_deterministic_across_threads(threads):
    x, y = make(4096, 1000, np.float32, seed=11)
    base_loss, base_grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=1)
    for _ in range(2):
        loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=threads)
        assert loss.tobytes() == base_loss.tobytes()
        assert np.array_equal(grad.view(np.uint32), base_grad.view(np.uint32))
    for reduction in ("sum", "none"):
        a = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, threads=1)
        b = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, threads=threads)
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("return_grad", [False, True])
def test_inputs_never_written(return_grad):
    x, y = make(12, 6, np.float32)
    w = np.linspace(0.5, 1.5, 6)
    sw = np.linspace(0.1, 2.0, 12)
    copies = [a.copy() for a in (x, y, w, sw)]
    fusedloss.softmax_cross_entropy(x, y, weight=w, sample_weight=sw, return_grad=return_grad)
    for original, copy in zip((x, y, w, sw), copies):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_buffer(dtype):
    x, y = make(10, 7, dtype)
    _, expected = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    out = np.full_like(x, np.nan)
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_is_logits_in_place(isa, dtype):
    x, y = make(10, 7, dtype)
    expected_loss, expected = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=x)
    assert grad is x
    assert loss == expected_loss
    np.testing.assert_array_equal(x, expected)


def test_float16_computed_in_float32():
    x16, y = make(8, 5, np.float16)
    loss, grad = fusedloss.softmax_cross_entropy(x16, y, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    loss32, grad32 = fusedloss.softmax_cross_entropy(x16.astype(np.float32), y, return_grad=True)
    assert loss == loss32.astype(np.float16)
    np.testing.assert_array_equal(grad, grad32.astype(np.float16))
    out = np.empty_like(x16)
    _, grad_out = fusedloss.softmax_cross_entropy(x16, y, return_grad=True, out=out)
    assert grad_out is out
    np.testing.assert_array_equal(out, grad)
    _, in_place = fusedloss.softmax_cross_entropy(x16, y, return_grad=True, out=x16)
    assert in_place is x16
    np.testing.assert_array_equal(x16, grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_numpy_backend_matches_native(dtype, reduction):
    x, y = make(25, 8, dtype, seed=9)
    y[3] = -100
    w = np.linspace(0.5, 2, 8)
    native = fusedloss.softmax_cross_entropy(x, y, weight=w, reduction=reduction, return_grad=True)
    fusedloss.set_backend("numpy")
    assert fusedloss.get_backend() == "numpy"
    numpy_result = fusedloss.softmax_cross_entropy(
        x, y, weight=w, reduction=reduction, return_grad=True
    )
    for a, b in zip(native, numpy_result):
        assert np.asarray(a).dtype == np.asarray(b).dtype == dtype
        assert_close(a, b, dtype)


def test_nan_and_inf_propagate_per_row():
    x = np.array([[0.0, 1.0, np.nan], [0.0, 1.0, 2.0], [-np.inf, 0.0, 1.0]])
    loss = fusedloss.softmax_cross_entropy(x, [0, 1, 2], reduction="none")
    ref, _ = reference(x, [0, 1, 2], reduction="none")
    assert np.isnan(loss[0])
    np.testing.assert_allclose(loss[1:], ref[1:], rtol=1e-12)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_label_out_of_range(backend):
    fusedloss.set_backend(backend)
    x, y = make(6, 4)
    y[3] = 4
    with pytest.raises(ValueError, match=r"label 4 at row 3 .*\[0, 4\)"):
        fusedloss.softmax_cross_entropy(x, y)
    y[3] = -1
    with pytest.raises(ValueError, match=r"label -1 at row 3 .*\[0, 4\)"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    x3, y3 = make(0, 4, batch=(2, 3))
    y3[1, 2] = 7
    with pytest.raises(ValueError, match=r"label 7 at row 5 \(batch index \(1, 2\)\).*\[0, 4\)"):
        fusedloss.softmax_cross_entropy(x3, y3)


def test_bad_inputs():
    x, y = make(6, 4)
    with pytest.raises(ValueError, match=r"labels: expected shape \(6,\).*got \(5,\)"):
        fusedloss.softmax_cross_entropy(x, y[:5])
    with pytest.raises(ValueError, match=r"soft targets of the logits' shape \(6, 4\), got .* \(6,\)"):
        fusedloss.softmax_cross_entropy(x, y.astype(np.float64))
    with pytest.raises(TypeError, match="complex"):
        fusedloss.softmax_cross_entropy(x.astype(np.complex128), y)
    with pytest.raises(TypeError, match="object"):
        fusedloss.softmax_cross_entropy(x.astype(object), y)
    with pytest.raises(TypeError, match="logits: expected a real numeric array"):
        fusedloss.softmax_cross_entropy([["a", "b"]], [0])
    with pytest.raises(ValueError, match="0-d"):
        fusedloss.softmax_cross_entropy(np.float64(1.0), np.int64(0))
    with pytest.raises(ValueError, match="C = 0"):
        fusedloss.softmax_cross_entropy(np.zeros((3, 0)), [0, 0, 0])
    with pytest.raises(ValueError, match="reduction must be one of.*'avg'"):
        fusedloss.softmax_cross_entropy(x, y, reduction="avg")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="threads"):
            fusedloss.softmax_cross_entropy(x, y, threads=bad)
    for bad in (1.5, True):
        with pytest.raises(TypeError, match="threads"):
            fusedloss.softmax_cross_entropy(x, y, threads=bad)
    with pytest.raises(ValueError, match=r"weight: expected shape \(4,\).*got \(3,\)"):
        fusedloss.softmax_cross_entropy(x, y, weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight: expected finite"):
        fusedloss.softmax_cross_entropy(x, y, sample_weight=[1, 1, np.nan, 1, 1, 1])
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(6,\)"):
        fusedloss.softmax_cross_entropy(x, y, sample_weight=[1.0] * 5)


def test_bad_out():
    x, y = make(6, 4)
    with pytest.raises(ValueError, match=r"out: expected shape \(6, 4\)"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=np.empty((4, 6)))
    with pytest.raises(ValueError, match="out: expected dtype float64"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=np.empty((6, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=np.empty((4, 6)).T)
    readonly = np.empty((6, 4))
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=readonly)
    with pytest.raises(ValueError, match="return_grad=True"):
        fusedloss.softmax_cross_entropy(x, y, out=np.empty((6, 4)))


def test_out_overlapping_another_input():
    x, _ = make(6, 4)
    buffer = np.zeros(6 * 4)
    labels_view = buffer[:6].view(np.int64)
    labels_view[:] = [0, 1, 2, 3, 0, 1]
    copy = labels_view.copy()
    with pytest.raises(ValueError, match="out: overlaps another input"):
        fusedloss.softmax_cross_entropy(x, labels_view, return_grad=True, out=buffer.reshape(6, 4))
    np.testing.assert_array_equal(labels_view, copy)
    weights = np.ones(6 * 4)
    sw = weights[:6]
    with pytest.raises(ValueError, match="out: overlaps another input"):
        fusedloss.softmax_cross_entropy(
            x, [0] * 6, sample_weight=sw, return_grad=True, out=weights.reshape(6, 4)
        )
    assert np.all(sw == 1)


def test_set_backend_bogus():
    with pytest.raises(ValueError, match=r"backend must be one of.*'bogus'"):
        fusedloss.set_backend("bogus")
    assert fusedloss.get_backend() == "native"


# ---------------------------------------------------------------------------------------------
# Options: label_smoothing, soft targets, z_loss, softcap, return_argmax.


def make_soft(rows, classes, dtype=np.float64, seed=0, normalized=True):
    rng = np.random.default_rng(seed + 100)
    t = rng.uniform(0.0, 1.0, (rows, classes))
    t[rng.uniform(size=t.shape) < 0.2] = 0.0  # some exact zeros (0 log 0 = 0)
    if normalized:
        t /= np.maximum(t.sum(axis=1, keepdims=True), 1e-12)
    else:
        t *= 1.7
    return t.astype(dtype)


def option_reference(x, labels, **kwargs):
    kwargs.setdefault("return_grad", True)
    for key in ("weight", "sample_weight"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.float64)
    labels = np.asarray(labels)
    labels = labels.astype(np.float64) if labels.dtype.kind == "f" else labels.astype(np.int64)
    return _reference.softmax_cross_entropy(np.asarray(x, dtype=np.float64), labels, **kwargs)


def check_options(x, labels, dtype, reduction, **kwargs):
    loss, grad = fusedloss.softmax_cross_entropy(
        x, labels, reduction=reduction, return_grad=True, **kwargs
    )
    value, ref_grad = option_reference(x, labels, reduction=reduction, **kwargs)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    assert np.asarray(loss).dtype == dtype
    scale = max(1.0, float(np.max(np.abs(value), initial=0)))
    assert_close(loss, value, dtype, scale=scale)
    assert_close(grad, ref_grad, dtype, scale=scale)
    forward = fusedloss.softmax_cross_entropy(x, labels, reduction=reduction, **kwargs)
    assert_close(forward, value, dtype, scale=scale)


OPTION_SETS = [
    {"label_smoothing": 0.1},
    {"label_smoothing": 1.0},
    {"label_smoothing": 0.2, "weight": "class"},
    {"label_smoothing": 0.2, "weight": "class", "sample_weight": "row", "ignore_index": 1},
    {"z_loss": 1e-2},
    {"z_loss": 0.3, "weight": "class", "ignore_index": 2},
    {"softcap": 2.5},
    {"softcap": 30.0, "weight": "class", "sample_weight": "row"},
    {"softcap": 1.5, "z_loss": 0.05, "label_smoothing": 0.15, "weight": "class",
     "sample_weight": "row", "ignore_index": 0},
    {"return_argmax": True},
]


def resolve(options, classes, rows, seed=5):
    rng = np.random.default_rng(seed)
    kwargs = dict(options)
    kwargs.pop("return_argmax", None)
    if kwargs.get("weight") == "class":
        kwargs["weight"] = rng.uniform(0.1, 2.0, classes)
    if kwargs.get("sample_weight") == "row":
        kwargs["sample_weight"] = rng.uniform(0.0, 2.0, rows)
    return kwargs


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "-".join(sorted(o)))
@pytest.mark.parametrize("classes", [1, 7, 33])
def test_options_match_reference(isa, dtype, reduction, options, classes):
    rows = 37
    x, y = make(rows, classes, dtype)
    if "ignore_index" in options:
        y[::4] = options["ignore_index"]
    check_options(x, y, dtype, reduction, **resolve(options, classes, rows))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": "class"}, {"sample_weight": "row"}, {"label_smoothing": 0.3},
     {"label_smoothing": 0.3, "weight": "class", "sample_weight": "row"},
     {"z_loss": 0.1, "softcap": 3.0}, {"softcap": 5.0, "label_smoothing": 0.05, "weight": "class"}],
    ids=lambda o: "-".join(sorted(o)) or "plain",
)
@pytest.mark.parametrize("normalized", [True, False], ids=["sum1", "unnormalized"])
def test_soft_targets_match_reference(isa, dtype, reduction, options, normalized):
    rows, classes = 29, 9
    x, _ = make(rows, classes, dtype, seed=2)
    t = make_soft(rows, classes, dtype, normalized=normalized)
    check_options(x, t, dtype, reduction, **resolve(options, classes, rows))


def test_soft_one_hot_targets_equal_integer_labels(isa):
    x, y = make(20, 6, seed=4)
    w = np.linspace(0.5, 2.0, 6)
    for reduction in ("sum", "none"):
        hard = fusedloss.softmax_cross_entropy(x, y, weight=w, reduction=reduction, return_grad=True)
        soft = fusedloss.softmax_cross_entropy(x, np.eye(6)[y], weight=w, reduction=reduction,
                                               return_grad=True)
        np.testing.assert_allclose(soft[0], hard[0], rtol=1e-12)
        np.testing.assert_allclose(soft[1], hard[1], rtol=1e-12, atol=1e-15)


def test_soft_targets_gradient_when_rows_do_not_sum_to_one(isa):
    x, _ = make(5, 4, seed=8)
    t = make_soft(5, 4, normalized=False)
    _, grad = fusedloss.softmax_cross_entropy(x, t, reduction="sum", return_grad=True)
    p = fusedloss.softmax(x)
    np.testing.assert_allclose(grad, t.sum(axis=1, keepdims=True) * p - t, rtol=1e-12, atol=1e-14)


def test_soft_targets_zero_times_masked_logit_is_zero(isa):
    x = np.array([[1.0, -np.inf, 0.5], [0.0, 0.0, 0.0]])
    t = np.array([[0.3, 0.0, 0.7], [0.0, 1.0, 0.0]])
    loss, grad = fusedloss.softmax_cross_entropy(x, t, reduction="none", return_grad=True)
    value, ref = option_reference(x, t, reduction="none")
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert_close(loss, value, np.float64)
    assert_close(grad, ref, np.float64)


def test_soft_targets_converted_and_leading_axes(isa):
    x, _ = make(0, 5, np.float32, batch=(3, 4))
    t = make_soft(12, 5).reshape(3, 4, 5)  # float64 targets with float32 logits
    loss, grad, argmax = fusedloss.softmax_cross_entropy(
        x, t, reduction="none", return_grad=True, return_argmax=True, label_smoothing=0.1
    )
    assert loss.shape == (3, 4) and loss.dtype == np.float32 and grad.dtype == np.float32
    value, ref = option_reference(x, t, reduction="none", label_smoothing=0.1)
    assert_close(loss, value, np.float32)
    assert_close(grad, ref, np.float32)
    assert argmax.shape == (3, 4) and argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, np.argmax(x, axis=-1))


def test_soft_targets_ignore_index_does_not_apply():
    x, _ = make(6, 4)
    t = make_soft(6, 4)
    a = fusedloss.softmax_cross_entropy(x, t, ignore_index=0)
    b = fusedloss.softmax_cross_entropy(x, t)
    assert a == b


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_argmax_ties_nan_and_softcap(isa, dtype):
    x = np.array([
        [1.0, 3.0, 3.0, 2.0],
        [5.0, 5.0, 5.0, 5.0],
        [-np.inf, -np.inf, -np.inf, -np.inf],
        [0.0, np.nan, 9.0, np.nan],
        [100.0, 100.5, 99.0, 100.5],
        [-2.0, -1.0, -3.0, np.inf],
    ], dtype=dtype)
    y = np.array([0, 1, 2, 3, 1, 0])
    for kwargs in ({}, {"softcap": 1.0}, {"label_smoothing": 0.1}):
        result = fusedloss.softmax_cross_entropy(x, y, reduction="none", return_argmax=True,
                                                 **kwargs)
        assert isinstance(result, tuple) and len(result) == 2
        np.testing.assert_array_equal(result[1], np.argmax(x, axis=1))
    loss, grad, argmax = fusedloss.softmax_cross_entropy(x, y, return_grad=True,
                                                         return_argmax=True)
    np.testing.assert_array_equal(argmax, [1, 0, 0, 1, 1, 3])
    # Wide rows (vector width and beyond) with the maximum in the tail, ties included.
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((8, 131)).astype(dtype)
    wide[:, 70] = 10
    wide[:, 130] = 10
    wide[3, 5] = 10
    _, argmax = fusedloss.softmax_cross_entropy(wide, np.zeros(8, int), return_argmax=True)
    np.testing.assert_array_equal(argmax, np.argmax(wide, axis=1))


def test_argmax_without_other_options_keeps_the_loss(isa):
    x, y = make(16, 10, seed=9)
    plain_loss, plain_grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    loss, grad, argmax = fusedloss.softmax_cross_entropy(x, y, return_grad=True, return_argmax=True)
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, plain_grad, rtol=1e-13, atol=1e-16)
    np.testing.assert_array_equal(argmax, np.argmax(x, axis=1))
    # Ignored rows still report their argmax.
    y[:4] = -100
    _, argmax = fusedloss.softmax_cross_entropy(x, y, return_argmax=True)
    np.testing.assert_array_equal(argmax, np.argmax(x, axis=1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{"label_smoothing": 0.2}, {"z_loss": 0.1}, {"softcap": 2.0},
     {"label_smoothing": 0.3, "z_loss": 0.2, "softcap": 1.5},
     {"soft": True, "label_smoothing": 0.1, "z_loss": 0.1, "softcap": 2.0},
     {"soft": True}],
    ids=["smooth", "zloss", "softcap", "all", "soft-all", "soft"],
)
def test_finite_differences_with_options(reduction, options):
    options = dict(options)
    x, y = make(4, 5, seed=3)
    labels = make_soft(4, 5, normalized=False) if options.pop("soft", False) else y
    w = np.array([0.5, 1.0, 2.0, 1.5, 0.7])
    sw = np.array([1.0, 0.3, 2.0, 0.9])
    kwargs = dict(weight=w, sample_weight=sw, reduction=reduction, **options)
    _, grad = fusedloss.softmax_cross_entropy(x, labels, return_grad=True, **kwargs)

    def total(z):
        return float(np.sum(fusedloss.softmax_cross_entropy(z, labels, **kwargs)))

    h = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (total(plus) - total(minus)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_z_loss_and_softcap_formulas(isa):
    x, y = make(10, 6, seed=11)
    lse = np.log(np.exp(x).sum(axis=1))
    plain = fusedloss.softmax_cross_entropy(x, y, reduction="none")
    with_z = fusedloss.softmax_cross_entropy(x, y, reduction="none", z_loss=0.25)
    np.testing.assert_allclose(with_z, plain + 0.25 * lse**2, rtol=1e-12)
    capped = fusedloss.softmax_cross_entropy(x, y, reduction="none", softcap=2.0)
    expected = fusedloss.softmax_cross_entropy(2.0 * np.tanh(x / 2.0), y, reduction="none")
    np.testing.assert_allclose(capped, expected, rtol=1e-12)
    # A huge cap changes nothing; infinite logits are capped to finite ones.
    np.testing.assert_allclose(
        fusedloss.softmax_cross_entropy(x, y, reduction="none", softcap=1e12), plain, rtol=1e-12)
    inf_row = np.array([[np.inf, 0.0, -np.inf]])
    loss, grad = fusedloss.softmax_cross_entropy(inf_row, [1], softcap=1.0, return_grad=True)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, np.log(np.exp([1.0, 0.0, -1.0]).sum()), rtol=1e-12)
    assert grad[0, 0] == 0 and grad[0, 2] == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_options_with_in_place_out_and_layouts(isa, dtype):
    x, y = make(12, 9, dtype, seed=6)
    kwargs = dict(label_smoothing=0.1, z_loss=0.01, softcap=4.0)
    value, ref = option_reference(x, y, **kwargs)
    work = x.copy()
    loss, grad = fusedloss.softmax_cross_entropy(work, y, return_grad=True, out=work, **kwargs)
    assert grad is work
    assert_close(grad, ref, dtype)
    assert_close(loss, value, dtype)
    t = make_soft(12, 9, dtype)
    value, ref = option_reference(x, t, **kwargs)
    for name in LAYOUTS:
        loss, grad = fusedloss.softmax_cross_entropy(
            layout(name, x), layout(name, t), return_grad=True, **kwargs)
        assert_close(loss, value, dtype)
        assert_close(grad, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_options_all_ignored_and_empty(isa, dtype):
    x, y = make(5, 4, dtype)
    y[:] = -100
    loss, grad = fusedloss.softmax_cross_entropy(
        x, y, return_grad=True, label_smoothing=0.2, z_loss=0.1, softcap=2.0)
    assert loss == 0 and not grad.any()
    empty = np.zeros((0, 4), dtype)
    loss, grad, argmax = fusedloss.softmax_cross_entropy(
        empty, np.zeros((0, 4), dtype), return_grad=True, return_argmax=True, label_smoothing=0.1)
    assert loss == 0 and grad.shape == (0, 4) and argmax.shape == (0,)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_numpy_backend_matches_native_with_options(dtype, reduction):
    x, y = make(30, 8, dtype, seed=12)
    y[::7] = -100
    t = make_soft(30, 8, dtype)
    w = np.linspace(0.2, 1.8, 8)
    for labels in (y, t):
        kwargs = dict(weight=w, label_smoothing=0.1, z_loss=0.05, softcap=3.0,
                      reduction=reduction, return_grad=True, return_argmax=True)
        native = fusedloss.softmax_cross_entropy(x, labels, **kwargs)
        fusedloss.set_backend("numpy")
        try:
            numpy = fusedloss.softmax_cross_entropy(x, labels, **kwargs)
        finally:
            fusedloss.set_backend("native")
        assert len(native) == len(numpy) == 3
        assert_close(native[0], numpy[0], dtype)
        assert_close(native[1], numpy[1], dtype)
        np.testing.assert_array_equal(native[2], numpy[2])
        assert np.asarray(numpy[0]).dtype == dtype and numpy[2].dtype == np.int64


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_options_deterministic_across_threads(threads):
    x, y = make(3000, 17, np.float32, seed=13)
    t = make_soft(3000, 17, np.float32)
    kwargs = dict(label_smoothing=0.1, z_loss=0.01, softcap=5.0, return_grad=True)
    for labels in (y, t):
        base = fusedloss.softmax_cross_entropy(x, labels, threads=1, **kwargs)
        other = fusedloss.softmax_cross_entropy(x, labels, threads=threads, **kwargs)
        assert base[0].tobytes() == other[0].tobytes()
        assert base[1].tobytes() == other[1].tobytes()


def test_option_validation():
    x, y = make(6, 4)
    for bad in (-0.1, 1.5, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"label_smoothing: expected a number in \[0, 1\], got"):
            fusedloss.softmax_cross_entropy(x, y, label_smoothing=bad)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"z_loss: expected a finite number >= 0, got"):
            fusedloss.softmax_cross_entropy(x, y, z_loss=bad)
    for bad in (0.0, -2.0, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"softcap: expected a finite number > 0, got"):
            fusedloss.softmax_cross_entropy(x, y, softcap=bad)
    with pytest.raises(TypeError, match="label_smoothing: expected a real number"):
        fusedloss.softmax_cross_entropy(x, y, label_smoothing="0.1")
    with pytest.raises(ValueError, match=r"soft targets of the logits' shape \(6, 4\), got .*\(6, 3\)"):
        fusedloss.softmax_cross_entropy(x, np.zeros((6, 3)))
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(6,\)"):
        fusedloss.softmax_cross_entropy(x, np.zeros((6, 4)), sample_weight=np.ones(5))
    fusedloss.softmax_cross_entropy(x, y, label_smoothing=1, z_loss=0, softcap=1)  # ints accepted
    t = make_soft(6, 4)
    with pytest.raises(ValueError, match="out: overlaps another input"):
        fusedloss.softmax_cross_entropy(x, t, return_grad=True, out=t)


@pytest.mark.parametrize("classes", [1, 2, 10, 17, 127, 128, 129, 255, 256, 257, 1000, 4097])
def test_argmax_is_numpys_with_ties_nan_and_inf_around_the_search_blocks(classes, isa):
    """return_argmax equals np.argmax (first maximum; first NaN if any) on rows full of ties,
    with NaN, +inf and all -inf rows, for C around the 128-class blocks of the search."""
    rng = np.random.default_rng(classes)
    for trial in range(30):
        x = rng.integers(-3, 3, (5, classes)).astype(np.float32)
        if trial % 3 == 0:
            x[rng.integers(0, 5), rng.integers(0, classes)] = np.nan
        if trial % 5 == 0:
            x[rng.integers(0, 5)] = -np.inf
        if trial % 7 == 0:
            x[rng.integers(0, 5), rng.integers(0, classes)] = np.inf
        labels = rng.integers(0, classes, 5)
        for dtype in (np.float32, np.float64):
            _, argmax = fusedloss.softmax_cross_entropy(x.astype(dtype), labels, return_argmax=True,
                                                        reduction="none")
            np.testing.assert_array_equal(argmax, np.argmax(x, axis=1))


@pytest.mark.parametrize("classes", [2, 3, 7, 8, 9, 16, 17, 31])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_on_the_small_class_tiles(classes, dtype, isa):
    """C <= 31 (the options' tile kernel): the first maximum, or the first NaN found through the row's
    NaN sum, also in ignored rows, with the gradient written over the logits (out=logits)."""
    rng = np.random.default_rng(100 + classes)
    rows = 300  # more than one 128-row tile
    x = rng.integers(-2, 2, (rows, classes)).astype(dtype)
    x[5, 0] = np.nan                                   # a NaN first: the max stays NaN
    x[6, classes - 1] = np.nan                         # a NaN last
    x[7, :] = np.nan
    x[8, [0, classes - 1]] = [np.inf, np.nan]          # NaN beats +inf
    x[9, :] = -np.inf
    x[10, classes // 2] = np.inf
    x[200, 1 % classes] = np.nan
    labels = rng.integers(0, classes, rows)
    labels[[8, 200]] = -100                            # ignored rows keep their argmax
    expected = np.argmax(x, axis=1)
    for return_grad in (False, True):
        work = x.copy()
        result = fusedloss.softmax_cross_entropy(work, labels, return_argmax=True, reduction="none",
                                                 return_grad=return_grad,
                                                 out=work if return_grad else None)
        np.testing.assert_array_equal(result[-1], expected)
