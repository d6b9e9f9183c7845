"""The fast paths taken for common calls must give the results of the general paths.

- softmax_cross_entropy's Python fast path (2-d C-contiguous float logits, 1-d int labels,
  default options) against the fully validated path (forced here with a Fortran-ordered copy of
  the logits, or an explicit ``sample_weight`` of ones), and against the float64 reference;
- the small-class tile kernel (C <= 16) against the per-row kernel (C > 16) on padded logits:
  a padding column of -inf adds exp(-inf) = 0 to every row sum;
- special rows (+inf, -inf, NaN, ignored) inside a tile.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

from conftest import tolerances


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fast_path_matches_validated_path(isa, dtype, label_dtype, reduction):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((37, 10)) * 4).astype(dtype)
    y = rng.integers(0, 10, 37).astype(label_dtype)
    fast_loss, fast_grad = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, return_grad=True)
    slow_loss, slow_grad = fusedloss.softmax_cross_entropy(
        np.asfortranarray(x), list(y), reduction=reduction, return_grad=True)
    assert type(fast_loss) is type(slow_loss)
    assert np.asarray(fast_loss).dtype == np.asarray(slow_loss).dtype == dtype
    np.testing.assert_array_equal(fast_loss, slow_loss)
    np.testing.assert_array_equal(fast_grad, slow_grad)
    assert fast_grad.dtype == dtype and fast_grad.shape == x.shape
    only_loss = fusedloss.softmax_cross_entropy(x, y, reduction=reduction)
    np.testing.assert_array_equal(only_loss, fast_loss)
    ref_loss, ref_grad = _reference.softmax_cross_entropy(x, y, reduction=reduction, return_grad=True)
    rtol, atol = tolerances(dtype, float(np.max(np.abs(ref_grad))))
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(fast_grad, ref_grad, rtol=rtol, atol=atol)


def test_fast_path_errors_match():
    x = np.zeros((4, 3), np.float32)
    y = np.array([0, 1, 3, 2])
    messages = []
    for logits in (x, np.asfortranarray(x)):
        with pytest.raises(ValueError) as error:
            fusedloss.softmax_cross_entropy(logits, y, return_grad=True)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert "label 3 at row 2 is out of range" in messages[0]
    with pytest.raises(ValueError, match="reduction must be one of"):
        fusedloss.softmax_cross_entropy(x, np.array([0, 1, 2, 2]), reduction="avg")
    with pytest.raises(ValueError, match="expected shape"):
        fusedloss.softmax_cross_entropy(x, np.array([0, 1, 2]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [1, 2, 5, 10, 16])
def test_small_class_tiles_match_row_kernel(isa, dtype, classes):
    rng = np.random.default_rng(classes)
    rows = 300  # more than two tiles of 128 rows
    x = (rng.standard_normal((rows, classes)) * 5).astype(dtype)
    y = rng.integers(0, classes, rows)
    y[::17] = -100
    x[3, 0] = np.inf
    x[5, :] = -np.inf
    x[7, classes - 1] = np.nan
    x[9, 0] = -np.inf
    x[11, :] = -200.0  # every shifted value 0
    if classes > 1:
        x[13, 1:] = -150.0  # exp underflows for all but one class
    padded = np.full((rows, 20), -np.inf, dtype=dtype)  # C = 20 takes the per-row kernel
    padded[:, :classes] = x
    sample_weight = rng.uniform(0.5, 2.0, rows)
    for kwargs in ({}, {"sample_weight": sample_weight}):
        small_loss, small_grad = fusedloss.softmax_cross_entropy(
            x, y, reduction="none", return_grad=True, **kwargs)
        wide_loss, wide_grad = fusedloss.softmax_cross_entropy(
            padded, y, reduction="none", return_grad=True, **kwargs)
        rtol, atol = tolerances(dtype)
        # loss = (max + log S) - x_y cancels: an absolute error of a few ulp of the logits.
        loss_atol = 8 * np.finfo(dtype).eps * (1 + float(np.max(np.abs(x[np.isfinite(x)]))))
        np.testing.assert_allclose(small_loss, wide_loss, rtol=rtol * 10, atol=loss_atol)
        np.testing.assert_allclose(small_grad, wide_grad[:, :classes], rtol=rtol * 10, atol=atol)
        assert np.isnan(small_loss[7]) and np.isnan(small_grad[7]).all()
        assert (small_grad[y == -100] == 0).all() and (small_loss[y == -100] == 0).all()
        forward = fusedloss.softmax_cross_entropy(x, y, reduction="none", **kwargs)
        np.testing.assert_array_equal(forward, small_loss)


@pytest.mark.parametrize("classes", [3, 10, 16])
def test_small_class_tiles_deterministic_across_threads(classes):
    rng = np.random.default_rng(3)
    rows = 50_001  # several blocks, a partial last tile
    x = (rng.standard_normal((rows, classes)) * 3).astype(np.float32)
    y = rng.integers(0, classes, rows)
    base_loss, base_grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=1)
    for threads in (2, 3, None):
        loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=threads)
        assert loss.tobytes() == base_loss.tobytes()
        assert np.array_equal(grad.view(np.uint32), base_grad.view(np.uint32))
