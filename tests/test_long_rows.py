"""Softmax cross-entropy on long rows (C >= 32768): the chunked path that splits one row over
the threads (csrc/kernels/softmax_cross_entropy_long_rows.inl), checked against the float64
NumPy reference, for special values, options, layouts, and bitwise equality across threads."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

LONG = 32768  # the chunked path's threshold (long_row_classes)
CHUNK = 4096


def check(x, labels, dtype, threads=(1, 2, 3), **kwargs):
    want_loss, want_grad = _reference.softmax_cross_entropy(
        x.astype(np.float64), labels, reduction="none", return_grad=True, **kwargs)
    results = [fusedloss.softmax_cross_entropy(x, labels, reduction="none", return_grad=True,
                                               threads=t, **kwargs) for t in threads]
    loss, grad = results[0]
    for other_loss, other_grad in results[1:]:  # the same bits for every thread count
        np.testing.assert_array_equal(other_loss, loss)
        np.testing.assert_array_equal(other_grad, grad)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    # NaN / inf exactly where the reference has them
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(want_loss))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(want_grad))
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=rtol)
    scale = np.nanmax(np.abs(np.where(np.isfinite(want_grad), want_grad, 0)), initial=1.0)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * scale)
    return loss, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [LONG, LONG + 1, 3 * CHUNK * 4 + 7, 100_003])
def test_matches_reference(dtype, classes, isa):
    rng = np.random.default_rng(classes)
    x = (rng.standard_normal((3, classes)) * 4).astype(dtype)
    # labels in the first chunk, the last chunk, and the last class
    labels = np.array([0, classes - CHUNK // 2, classes - 1])
    check(x, labels, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_options_of_the_plain_path(dtype):
    rng = np.random.default_rng(1)
    rows, classes = 5, LONG + 100
    x = (rng.standard_normal((rows, classes)) * 3).astype(dtype)
    labels = rng.integers(0, classes, rows)
    labels[2] = -100
    weight = rng.uniform(0.5, 2.0, classes)
    sample_weight = rng.uniform(0.1, 3.0, rows)
    check(x, labels, dtype, weight=weight, sample_weight=sample_weight, ignore_index=-100)
    # reductions and forward-only agree with the per-row losses
    loss, grad = fusedloss.softmax_cross_entropy(x, labels, ignore_index=-100, return_grad=True)
    want, _ = _reference.softmax_cross_entropy(x.astype(np.float64), labels, ignore_index=-100)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    assert fusedloss.softmax_cross_entropy(x, labels, ignore_index=-100) == loss
    np.testing.assert_array_equal(grad[2], 0)


def test_rows_far_apart_and_masked_chunks():
    """Rows whose max sits in one chunk while others are far below (the chunk factors
    exp(m_c - M) underflow), and chunks that are entirely -inf (masked classes)."""
    rows, classes = 4, 5 * CHUNK
    x = np.full((rows, classes), -200.0, dtype=np.float32)
    x[0, 3] = 50.0
    x[1, :CHUNK] = -np.inf                  # a whole chunk masked
    x[1, -1] = 0.0
    x[2, CHUNK:] = -np.inf                  # all but the first chunk masked
    x[3] = np.linspace(-1000, 1000, classes, dtype=np.float32)
    check(x, np.array([3, classes - 1, 0, classes // 2]), np.float32)
    np.testing.assert_array_equal(
        fusedloss.softmax_cross_entropy(x, np.array([3, classes - 1, 0, 0]), reduction="none",
                                        return_grad=True)[1][1, :CHUNK], 0)


@pytest.mark.parametrize("special", ["nan", "inf", "-inf-row", "inf-at-label"])
def test_special_values(special):
    classes = LONG + 5
    x = np.random.default_rng(2).standard_normal((2, classes)).astype(np.float32)
    labels = np.array([7, classes - 1])
    if special == "nan":
        x[0, CHUNK * 3 + 1] = np.nan
    elif special == "inf":
        x[0, CHUNK * 2] = np.inf
    elif special == "-inf-row":
        x[0] = -np.inf
    else:
        x[0, 7] = np.inf
    want_loss, want_grad = _reference.softmax_cross_entropy(
        x.astype(np.float64), labels, reduction="none", return_grad=True)
    for threads in (1, 2):
        loss, grad = fusedloss.softmax_cross_entropy(x, labels, reduction="none",
                                                     return_grad=True, threads=threads)
        np.testing.assert_array_equal(loss[0], np.float32(want_loss[0]))  # nan / inf as NumPy
        np.testing.assert_array_equal(np.isnan(grad[0]), np.isnan(want_grad[0]))
        np.testing.assert_allclose(loss[1], want_loss[1], rtol=2e-5)


def test_layouts_and_aliasing():
    rng = np.random.default_rng(3)
    classes = LONG + 3
    base = rng.standard_normal((6, classes)).astype(np.float32)
    labels = rng.integers(0, classes, 3)
    strided = base[::2]                      # rows 2 * C apart
    loss, grad = check(strided, labels, np.float32)
    fortran = np.asfortranarray(base[:3])
    check(fortran, labels, np.float32)
    readonly = base[:3].copy()
    readonly.flags.writeable = False
    check(readonly, labels, np.float32)
    # out= the logits themselves: each row's label logit is read before it is overwritten
    inplace = strided.copy()
    got_loss, got_grad = fusedloss.softmax_cross_entropy(inplace, labels, reduction="none",
                                                         return_grad=True, out=inplace)
    assert got_grad is inplace
    np.testing.assert_array_equal(got_loss, loss)
    np.testing.assert_array_equal(got_grad, grad)


def test_many_rows_bitwise_across_threads():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, LONG)).astype(np.float32)
    labels = rng.integers(0, LONG, 64)
    results = [fusedloss.softmax_cross_entropy(x, labels, return_grad=True, threads=t)
               for t in (1, 2, 4)]
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])
    want, _ = _reference.softmax_cross_entropy(x.astype(np.float64), labels)
    np.testing.assert_allclose(results[0][0], want, rtol=1e-5)
