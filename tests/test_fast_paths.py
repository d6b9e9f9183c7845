"""The fast paths taken for common calls must give the results of the general paths.

- softmax_cross_entropy's Python fast path (2-d C-contiguous float logits, 1-d int labels,
  default options) against the fully validated path (forced here with a Fortran-ordered copy of
  the logits, or an explicit ``sample_weight`` of ones), and against the float64 reference;
- the small-class tile kernel (C <= 16) against the per-row kernel (C > 16) on padded logits:
  a padding column of -inf adds exp(-inf) = 0 to every row sum;
- special rows (+inf, -inf, NaN, ignored) inside a tile.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

from conftest import tolerances


def assert_close_to_reference(name, dtype, loss, grad, *inputs, **kwargs):
    """loss and grad against the float64 NumPy reference of loss `name` on `inputs`."""
    ref_loss, ref_grad = getattr(_reference, name)(*inputs, return_grad=True, **kwargs)
    rtol, atol = tolerances(dtype, float(np.max(np.abs(ref_grad))))
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol)


def check_fast_against_validated(name, function, first, second, reduction, use_out, dtype):
    """function(first, second) on its fast path (threads=2; out: none, a fresh buffer, or
    `first` itself) gives the bits of the validated path, forced by passing `second` as a
    list, and the reference's values; `out` is returned as given."""
    slow_loss, slow_grad = function(first, second.tolist(), reduction=reduction, return_grad=True)
    work = first.copy()
    out = None if use_out is False else (work if use_out == "first" else np.full_like(first, np.nan))
    fast_loss, fast_grad = function(work, second, reduction=reduction, return_grad=True, out=out,
                                    threads=2)
    if out is not None:
        assert fast_grad is out
    assert type(fast_loss) is type(slow_loss) and np.asarray(fast_loss).dtype == dtype
    assert np.shape(fast_loss) == np.shape(slow_loss)
    np.testing.assert_array_equal(fast_loss, slow_loss)
    np.testing.assert_array_equal(fast_grad, slow_grad)
    assert_close_to_reference(name, dtype, fast_loss, fast_grad, first, second, reduction=reduction)


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
    assert_close_to_reference("softmax_cross_entropy", dtype, fast_loss, fast_grad, x, y,
                              reduction=reduction)


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


# The fast paths also take `out=` (a writeable C-contiguous array of the logits' dtype and shape)
# and `threads=`; multiclass_hinge has the same fast path. Each must give the validated path's
# bits, its errors, and its result types.
FAST_LOSSES = {
    "softmax_cross_entropy": fusedloss.softmax_cross_entropy,
    "multiclass_hinge": fusedloss.multiclass_hinge,
}


@pytest.mark.parametrize("loss", sorted(FAST_LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [None, 1, 2])
@pytest.mark.parametrize("use_out", [False, True, "logits"])
def test_fast_path_with_out_and_threads(loss, dtype, threads, use_out):
    function = FAST_LOSSES[loss]
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((300, 37)) * 3).astype(dtype)
    y = rng.integers(0, 37, 300)
    slow_loss, slow_grad = function(np.asfortranarray(x), list(y), return_grad=True)
    work = x.copy()
    out = None if use_out is False else (work if use_out == "logits" else np.full_like(x, np.nan))
    fast_loss, fast_grad = function(work, y, return_grad=True, out=out, threads=threads)
    if out is not None:
        assert fast_grad is out
    assert type(fast_loss) is type(slow_loss) and np.asarray(fast_loss).dtype == dtype
    np.testing.assert_array_equal(fast_loss, slow_loss)
    np.testing.assert_array_equal(fast_grad, slow_grad)
    assert_close_to_reference(loss, dtype, fast_loss, fast_grad, x, y)


@pytest.mark.parametrize("loss", sorted(FAST_LOSSES))
def test_fast_path_out_errors_match_validated_path(loss):
    function = FAST_LOSSES[loss]
    x = np.zeros((6, 4), np.float32)
    y = np.array([0, 1, 2, 3, 0, 1])
    buffer = np.zeros(48, np.float32)
    logits = buffer[:24].reshape(6, 4)
    overlapping = buffer[2:26].reshape(6, 4)  # overlaps the logits without being them
    messages = []
    for labels in (y, list(y)):  # the fast path, then the validated one (labels as a list)
        with pytest.raises(ValueError) as error:
            function(logits, labels, return_grad=True, out=overlapping)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert "overlaps the first argument" in messages[0]
    labels_buffer = np.zeros(24, np.int64)
    with pytest.raises(ValueError, match="overlaps another input array"):
        function(x, labels_buffer[:6], return_grad=True, out=labels_buffer[:24].view(np.float64)[:12]
                 .view(np.float32).reshape(6, 4))
    with pytest.raises(ValueError, match="out: expected shape"):
        function(x, y, return_grad=True, out=np.zeros((4, 6), np.float32))
    with pytest.raises(ValueError, match="out: expected dtype"):
        function(x, y, return_grad=True, out=np.zeros((6, 4), np.float64))
    with pytest.raises(ValueError, match="read-only"):
        read_only = np.zeros((6, 4), np.float32)
        read_only.flags.writeable = False
        function(x, y, return_grad=True, out=read_only)
    with pytest.raises(ValueError, match="return_grad=True"):
        function(x, y, out=np.zeros((6, 4), np.float32))
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises((TypeError, ValueError), match="threads"):
            function(x, y, threads=bad)
    with pytest.raises(ValueError, match="label 7 at row 3 is out of range"):
        function(x, np.array([0, 1, 2, 7, 0, 1]), return_grad=True, out=np.zeros_like(x), threads=1)
    # A bad `out` and a bad label: the `out` error first, as on the validated path.
    with pytest.raises(ValueError, match="out: expected shape"):
        function(x, np.array([0, 1, 2, 7, 0, 1]), return_grad=True, out=np.zeros((4, 6), np.float32))


def test_partial_sums_keep_float64_for_dask():
    """reduction=PARTIAL_SUMS (fusedloss.dask's chunk shares) gives the kernel's float64 sum,
    the same value on every path; "sum" rounds it to the input's dtype."""
    from fusedloss._validation import PARTIAL_SUMS
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 7)).astype(np.float32)
    y = rng.integers(0, 7, 50)
    for function in FAST_LOSSES.values():
        plain = function(x, y, reduction=PARTIAL_SUMS)
        weighted = function(x, y, reduction=PARTIAL_SUMS, sample_weight=np.ones(50))
        assert type(plain) is np.float64 and type(weighted) is np.float64
        assert plain == weighted
        assert function(x, y, reduction="sum") == np.float32(plain)
        assert type(function(x, y, reduction="sum")) is np.float32


@pytest.mark.parametrize("classes", [1, 3, 1000])
@pytest.mark.parametrize("ignore_index", [-100, 0, "last"])
def test_label_summary_counts_ignored_rows(classes, ignore_index):
    # The "mean" denominator without weights is the count of non-ignored rows; a label outside
    # [0, C) is an error unless it is the ignore_index; the first bad row is the one reported.
    # The ignore_index may lie inside [0, C) (its rows are then skipped like any other).
    ignore = classes - 1 if ignore_index == "last" else ignore_index
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1000, classes))
    y = rng.integers(0, classes, 1000)
    y[rng.random(1000) < 0.3] = ignore
    kept = y != ignore
    loss = fusedloss.softmax_cross_entropy(x, y, ignore_index=ignore)
    expected = (_reference.softmax_cross_entropy(x[kept], y[kept], reduction="sum")[0]
                / max(kept.sum(), 1))
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    bad = y.copy()
    bad[[400, 700]] = [classes, -1]
    with pytest.raises(ValueError, match=f"label {classes} at row 400 is out of range"):
        fusedloss.softmax_cross_entropy(x, bad, ignore_index=ignore)
    bad[400] = ignore
    with pytest.raises(ValueError, match="label -1 at row 700 is out of range"):
        fusedloss.softmax_cross_entropy(x, bad, ignore_index=ignore)
    for extreme in (np.iinfo(np.int64).min, np.iinfo(np.int64).max):
        bad = rng.integers(0, classes, 1000)  # the hinge has no ignore_index
        bad[999] = extreme
        with pytest.raises(ValueError, match=f"label {extreme} at row 999 is out of range"):
            fusedloss.multiclass_hinge(x, bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1,), (1000,), (37, 11), (3, 4, 5)])
@pytest.mark.parametrize("use_out", [False, True, "first"])
def test_mean_squared_error_fast_path(dtype, reduction, shape, use_out):
    rng = np.random.default_rng(9)
    pred = rng.standard_normal(shape).astype(dtype)
    target = rng.standard_normal(shape).astype(dtype)
    check_fast_against_validated("mean_squared_error", fusedloss.mean_squared_error, pred, target,
                                 reduction, use_out, dtype)


def test_mean_squared_error_fast_path_errors():
    buffer = np.zeros(40, np.float32)
    pred, target = np.ones(20, np.float32), buffer[:20]
    with pytest.raises(ValueError, match="out: overlaps another input array"):
        fusedloss.mean_squared_error(pred, target, return_grad=True, out=buffer[10:30])
    with pytest.raises(ValueError, match="overlaps the first argument"):
        fusedloss.mean_squared_error(buffer[:20], pred, return_grad=True, out=buffer[5:25])
    with pytest.raises(ValueError, match="out: expected shape"):
        fusedloss.mean_squared_error(pred, pred, return_grad=True, out=np.zeros(21, np.float32))
    with pytest.raises(ValueError, match="reduction must be one of"):
        fusedloss.mean_squared_error(pred, pred, reduction="avg")
    with pytest.raises((TypeError, ValueError), match="threads"):
        fusedloss.mean_squared_error(pred, pred, threads=0)
    from fusedloss._validation import PARTIAL_SUMS
    assert type(fusedloss.mean_squared_error(pred, pred + 1, reduction=PARTIAL_SUMS)) is np.float64


def _bce_inputs(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype) * 3, (rng.random(shape) > 0.4).astype(dtype)


def _cross_entropy_inputs(rng, shape, dtype):
    probs = rng.dirichlet(np.ones(shape[-1]), shape[:-1]).astype(dtype)
    return probs, rng.integers(0, shape[-1], shape[:-1])


# The same fast-path contract for sigmoid BCE (two same-shape float arrays, no weights) and
# cross_entropy (2-d probabilities, 1-d integer labels): the validated path's bits (forced by
# giving the second argument as a list), the reference's values, `out` returned as given.
FAST_PROBABILISTIC = {
    "sigmoid_binary_cross_entropy": (fusedloss.sigmoid_binary_cross_entropy, _bce_inputs),
    "cross_entropy": (fusedloss.cross_entropy, _cross_entropy_inputs),
}


@pytest.mark.parametrize("name", sorted(FAST_PROBABILISTIC))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_out", [False, True, "first"])
def test_probabilistic_fast_paths(name, dtype, reduction, use_out):
    function, make = FAST_PROBABILISTIC[name]
    first, second = make(np.random.default_rng(21), (257, 11), dtype)
    check_fast_against_validated(name, function, first, second, reduction, use_out, dtype)


def test_probabilistic_fast_path_errors():
    rng = np.random.default_rng(4)
    probs, labels = _cross_entropy_inputs(rng, (6, 4), np.float32)
    with pytest.raises(ValueError, match="label 4 at row 2 is out of range"):
        fusedloss.cross_entropy(probs, np.array([0, 1, 4, 0, 1, 2]), return_grad=True,
                                out=np.zeros_like(probs), threads=1)
    with pytest.raises(ValueError, match="eps"):
        fusedloss.cross_entropy(probs, labels, eps=-1.0)
    buffer = np.zeros(48, np.float32)
    logits = buffer[:24].reshape(6, 4)
    messages = []
    for targets in (np.ones((6, 4), np.float32), np.ones((6, 4)).tolist()):
        with pytest.raises(ValueError) as error:  # the fast path, then the validated one
            fusedloss.sigmoid_binary_cross_entropy(logits, targets, return_grad=True,
                                                   out=buffer[2:26].reshape(6, 4))
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "overlaps the first argument" in messages[0]
    from fusedloss._validation import PARTIAL_SUMS
    x, t = _bce_inputs(rng, (5, 3), np.float32)
    assert type(fusedloss.sigmoid_binary_cross_entropy(x, t, reduction=PARTIAL_SUMS)) is np.float64
    assert type(fusedloss.cross_entropy(probs, labels, reduction=PARTIAL_SUMS)) is np.float64


# The row-wise losses of the registry (focal, distillation) have the same fast path: 2-d
# C-contiguous float rows with 1-d integer labels, or with targets of their shape and dtype.
ROW_ENTRIES = sorted(fusedloss._classification.ROW_LOSSES)


def _row_inputs(entry, dtype, rows=300, classes=37, seed=13):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, classes)) * 3).astype(dtype)
    if entry.takes_labels:
        return x, rng.integers(0, classes, rows)
    return x, (rng.standard_normal((rows, classes)) * 3).astype(dtype)


@pytest.mark.parametrize("name", ROW_ENTRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [None, 1, 2])
@pytest.mark.parametrize("use_out", [False, True, "first"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_registry_row_losses_fast_path_is_the_validated_path(name, dtype, threads, use_out, reduction):
    entry = fusedloss._classification.ROW_LOSSES[name]
    x, second = _row_inputs(entry, dtype)
    # the validated path, forced by a list for the second argument
    slow_loss, slow_grad = entry.function(x, second.tolist(), reduction=reduction, return_grad=True)
    work = x.copy()
    out = None if use_out is False else (work if use_out == "first" else np.full_like(x, np.nan))
    fast_loss, fast_grad = entry.function(work, second, reduction=reduction, return_grad=True,
                                          out=out, threads=threads)
    if out is not None:
        assert fast_grad is out
    assert type(fast_loss) is type(slow_loss) and np.asarray(fast_loss).dtype == dtype
    assert np.shape(fast_loss) == np.shape(slow_loss)
    assert np.asarray(fast_loss).tobytes() == np.asarray(slow_loss).tobytes()
    assert fast_grad.tobytes() == slow_grad.tobytes()
    only = entry.function(x, second, reduction=reduction)
    assert np.asarray(only).tobytes() == np.asarray(slow_loss).tobytes()
    # the reference, as a check that cannot pass by both paths being wrong alike
    ref_loss, ref_grad, _ = entry.run_reference(
        x.astype(np.float64), second if entry.takes_labels else second.astype(np.float64),
        entry.defaults(), ignore_index=-100 if entry.takes_labels else None,
        reduction=reduction, return_grad=True)
    rtol, atol = tolerances(dtype, float(np.max(np.abs(ref_grad))))
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(fast_grad, ref_grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ROW_ENTRIES)
def test_registry_row_losses_fast_path_errors_match_validated_path(name):
    entry = fusedloss._classification.ROW_LOSSES[name]
    x, second = _row_inputs(entry, np.float32, rows=6, classes=4)
    buffer = np.zeros(48, np.float32)
    first = buffer[:24].reshape(6, 4)
    overlapping = buffer[2:26].reshape(6, 4)
    messages = []
    for operand in (second, second.tolist()):  # the fast path, then the validated one
        with pytest.raises(ValueError) as error:
            entry.function(first, operand, return_grad=True, out=overlapping)
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "overlaps the first argument" in messages[0]
    for bad_out, message in ((np.zeros((4, 6), np.float32), "out: expected shape"),
                             (np.zeros((6, 4), np.float64), "out: expected dtype")):
        with pytest.raises(ValueError, match=message):
            entry.function(x, second, return_grad=True, out=bad_out)
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises((TypeError, ValueError), match="threads"):
            entry.function(x, second, threads=bad)
    if entry.takes_labels:
        bad_labels = [np.array([0, 1, 2, 7, 0, 1]), [0, 1, 2, 7, 0, 1]]
        errors = []
        for labels in bad_labels:
            with pytest.raises(ValueError, match="label 7 at row 3 is out of range") as error:
                entry.function(x, labels, return_grad=True, out=np.zeros_like(x), threads=1)
            errors.append(str(error.value))
        assert errors[0] == errors[1]


@pytest.mark.parametrize("name", ROW_ENTRIES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_registry_row_losses_fast_path_16bit_is_the_validated_path(name, dtype):
    if dtype == "bfloat16":
        dtype = ml_dtypes.bfloat16  # (a dependency of the package)
    entry = fusedloss._classification.ROW_LOSSES[name]
    x, second = _row_inputs(entry, np.float32, rows=64, classes=12)
    x = x.astype(dtype)
    second = second if entry.takes_labels else second.astype(dtype)
    # validated: the labels as a list, or the targets in Fortran order
    slow_second = second.tolist() if entry.takes_labels else np.asfortranarray(second)
    slow_loss, slow_grad = entry.function(x, slow_second, return_grad=True)
    out = np.empty_like(x)
    fast_loss, fast_grad = entry.function(x, second, return_grad=True, out=out)
    assert fast_grad is out and fast_grad.dtype == x.dtype and type(fast_loss) is type(slow_loss)
    assert np.asarray(fast_loss).tobytes() == np.asarray(slow_loss).tobytes()
    assert fast_grad.tobytes() == slow_grad.tobytes()
