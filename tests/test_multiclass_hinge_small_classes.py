"""multiclass_hinge with few classes (C <= 16: the compile-time-C kernel, one loop per row with
the label column masked by a select) against the float64 NumPy reference and the C > 16 kernel.

Every C from 1 to 17 (1 and 17 take the other paths: runtime C, and the per-row two-loop
kernel), row counts 0, 1, odd, several blocks; labels at the first and last column; every
option; strided, reversed and aliased (out=scores) rows; NaN and +-inf in and out of the label
column; bitwise equality across thread counts.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from conftest import assert_close
from test_special_values import assert_rowwise

DTYPES = [np.float32, np.float64]
CLASS_COUNTS = list(range(1, 18))
ROW_COUNTS = [0, 1, 7, 131]
OPTIONS = [
    {},
    {"margin": 0.625},
    {"margin": 2.0, "squared": True},
    {"weight": "class", "sample_weight": "row"},
    {"margin": 0.5, "squared": True, "weight": "class", "sample_weight": "row"},
]


def make(rows, classes, dtype, seed=0):
    """Scores on a quarter grid with the label's score moved by 1/8, so that no margin term
    sits at its kink (the derivative is then exact in float32 too); labels include the first
    and the last column."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal((rows, classes)) * 8) / 4
    y = rng.integers(0, classes, rows)
    y[: min(rows, 2)] = [0, classes - 1][: min(rows, 2)]
    x[np.arange(rows), y] += 0.125
    return x.astype(dtype), y


def resolve(options, rows, classes, seed=1):
    rng = np.random.default_rng(seed)
    resolved = dict(options)
    if resolved.get("weight") == "class":
        resolved["weight"] = rng.uniform(0.25, 2.0, classes)
    if resolved.get("sample_weight") == "row":
        resolved["sample_weight"] = rng.uniform(0.25, 2.0, rows)
    return resolved


def check(x, y, dtype, reduction, **options):
    """The native loss and gradient against the float64 reference; forward-only agrees bitwise."""
    loss, grad = fusedloss.multiclass_hinge(x, y, reduction=reduction, return_grad=True, **options)
    value, ref_grad = _reference.multiclass_hinge(
        np.asarray(x, np.float64), y, reduction=reduction, return_grad=True, **options)
    assert grad.dtype == dtype and grad.shape == x.shape
    assert_close(loss, value, dtype, scale=max(1.0, float(np.max(np.abs(value), initial=0))))
    assert_close(grad, ref_grad, dtype, scale=max(1.0, float(np.max(np.abs(ref_grad), initial=0))))
    forward = fusedloss.multiclass_hinge(x, y, reduction=reduction, **options)
    assert np.asarray(forward).tobytes() == np.asarray(loss).tobytes()
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_every_class_count_matches_reference(isa, dtype, classes):
    for rows in ROW_COUNTS:
        x, y = make(rows, classes, dtype, seed=rows + classes)
        for options in OPTIONS:
            for reduction in ("mean", "sum", "none"):
                check(x, y, dtype, reduction, **resolve(options, rows, classes))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("classes", [2, 3, 8, 10, 16])
def test_strided_reversed_and_aliased_rows(isa, dtype, classes):
    rows = 45
    x, y = make(rows, classes, dtype, seed=classes)
    options = {"margin": 0.75, "weight": np.linspace(0.5, 1.5, classes)}
    want_loss, want_grad = check(x, y, dtype, "none", **options)
    wide = np.full((rows, classes + 3), np.nan, dtype=dtype)  # row stride C + 3, NaN unread
    wide[:, :classes] = x
    strided = wide[:, :classes]
    assert strided.strides[0] == (classes + 3) * x.itemsize
    loss, grad = fusedloss.multiclass_hinge(strided, y, reduction="none", return_grad=True, **options)
    assert loss.tobytes() == want_loss.tobytes() and grad.tobytes() == want_grad.tobytes()
    reversed_rows = x[::-1].copy()[::-1]  # negative row stride, same values
    assert reversed_rows.strides[0] < 0
    loss, grad = fusedloss.multiclass_hinge(
        reversed_rows, y, reduction="none", return_grad=True, **options)
    assert loss.tobytes() == want_loss.tobytes() and grad.tobytes() == want_grad.tobytes()
    aliased = x.copy()
    loss, grad = fusedloss.multiclass_hinge(
        aliased, y, reduction="none", return_grad=True, out=aliased, **options)
    assert grad is aliased
    assert loss.tobytes() == want_loss.tobytes() and grad.tobytes() == want_grad.tobytes()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("squared", [False, True])
def test_small_kernel_matches_wide_kernel(dtype, squared):
    """A column of -inf adds max(0, -inf) = 0 to every row: padding C <= 16 scores to 20
    columns moves the call to the per-row kernel without changing the answer."""
    rows = 203
    for classes in range(1, 17):
        x, y = make(rows, classes, dtype, seed=100 + classes)
        padded = np.full((rows, 20), -np.inf, dtype=dtype)
        padded[:, :classes] = x
        kwargs = {"reduction": "none", "return_grad": True, "squared": squared, "margin": 1.5}
        loss, grad = fusedloss.multiclass_hinge(x, y, **kwargs)
        wide_loss, wide_grad = fusedloss.multiclass_hinge(padded, y, **kwargs)
        np.testing.assert_allclose(loss, wide_loss, rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(grad, wide_grad[:, :classes], rtol=4 * np.finfo(dtype).eps)
        assert (wide_grad[:, classes:] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("classes", [2, 3, 5, 8, 9, 16, 17])
def test_special_values_in_and_out_of_the_label_column(isa, dtype, classes):
    rows = 12
    x, y = make(rows, classes, dtype, seed=classes)
    y[:] = classes - 1
    y[::2] = 0
    other = np.where(y == 0, classes - 1, 0)  # a column that is not the label
    x[0, y[0]] = np.inf            # +inf at the label: every term is 0, no NaN from inf - inf
    x[1, y[1]] = -np.inf           # -inf at the label: every other term is +inf
    x[2, other[2]] = np.inf        # +inf elsewhere: loss +inf
    x[3, other[3]] = -np.inf       # -inf elsewhere: that term is 0
    x[4, y[4]] = np.nan            # NaN at the label: the row is NaN
    x[5, other[5]] = np.nan        # NaN elsewhere: the row is NaN
    x[6, :] = np.inf               # inf - inf in every other column: NaN
    x[7, :] = -np.inf
    x[8, y[8]] = np.inf            # +inf at the label and elsewhere: NaN
    x[8, other[8]] = np.inf
    # rows 9-11 stay finite: unaffected by their neighbours
    for options in ({}, {"squared": True}, {"margin": 0.5, "weight": np.linspace(1, 2, classes)}):
        for reduction in ("none", "sum"):
            got = fusedloss.multiclass_hinge(x, y, reduction=reduction, return_grad=True, **options)
            with np.errstate(invalid="ignore"):
                want = _reference.multiclass_hinge(
                    x.astype(np.float64), y, reduction=reduction, return_grad=True, **options)
            assert_rowwise(got, want, dtype)
            forward = fusedloss.multiclass_hinge(x, y, reduction=reduction, **options)
            np.testing.assert_array_equal(forward, got[0])  # NaN where NaN (any sign), else exact
    loss, grad = fusedloss.multiclass_hinge(x, y, reduction="none", return_grad=True)
    assert loss[0] == 0 and (grad[0] == 0).all()
    if classes > 1:
        assert loss[1] == np.inf and loss[2] == np.inf and np.isfinite(loss[3])
    assert np.isnan(loss[4]) and np.isnan(loss[5])
    assert np.isfinite(loss[9:]).all() and np.isfinite(grad[9:]).all()


@pytest.mark.parametrize("classes", [2, 7, 10, 16])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_small_classes_deterministic_across_threads(classes, dtype):
    rows = 20_011  # several blocks of the reduction plan, a partial last one
    rng = np.random.default_rng(classes)
    x = (rng.standard_normal((rows, classes)) * 3).astype(dtype)
    y = rng.integers(0, classes, rows)
    weight = rng.uniform(0.5, 2.0, classes)
    for options in ({}, {"squared": True, "margin": 0.3, "weight": weight}):
        base_loss, base_grad = fusedloss.multiclass_hinge(x, y, return_grad=True, threads=1, **options)
        base_rows = fusedloss.multiclass_hinge(x, y, reduction="none", threads=1, **options)
        for threads in (2, 3):
            loss, grad = fusedloss.multiclass_hinge(x, y, return_grad=True, threads=threads, **options)
            assert loss.tobytes() == base_loss.tobytes()
            assert grad.tobytes() == base_grad.tobytes()
            per_row = fusedloss.multiclass_hinge(x, y, reduction="none", threads=threads, **options)
            assert per_row.tobytes() == base_rows.tobytes()
