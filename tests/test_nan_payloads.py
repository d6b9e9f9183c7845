"""NaNs with payload bits stay NaN in every vectorised function (issue 16 item 6), on every ISA.

A NaN read from a binary file or produced by R (``NA_real_`` is ``0x7FF00000000007A2``) has
low payload bits set; an exp built from ``bits(p) + (bits(shifted) << 23)`` turns such a NaN
into a finite number, and ``d < lowest ? 0 : result`` does not catch it. Each function gets
payload NaNs of both signs (quiet and signalling) at several positions of one row, on every
kernel path (small-C tiles, vector widths, rows, long rows, each option): the affected row's
loss is NaN, the NaN positions of its loss and gradient are the NumPy reference's, the other
rows are untouched, and ``return_argmax`` is ``np.argmax`` (the first NaN's index).
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _core, _reference

PAYLOADS = {
    np.float32: {
        "0x7FC00001": np.array(0x7FC00001, np.uint32).view(np.float32),
        "0xFFC00001": np.array(0xFFC00001, np.uint32).view(np.float32),
        "0x7F800001(signalling)": np.array(0x7F800001, np.uint32).view(np.float32),
        "0xFF800001(signalling)": np.array(0xFF800001, np.uint32).view(np.float32),
        "0x7FFFFFFF": np.array(0x7FFFFFFF, np.uint32).view(np.float32),
    },
    np.float64: {
        "0x7FF00000000007A2(R NA_real_)": np.array(0x7FF00000000007A2, np.uint64).view(np.float64),
        "0xFFF8000000000001": np.array(0xFFF8000000000001, np.uint64).view(np.float64),
        "0xFFF00000000007A2": np.array(0xFFF00000000007A2, np.uint64).view(np.float64),
        "0x7FFFFFFFFFFFFFFF": np.array(0x7FFFFFFFFFFFFFFF, np.uint64).view(np.float64),
    },
}
PAYLOAD_CASES = [(dtype, name) for dtype in PAYLOADS for name in PAYLOADS[dtype]]
PAYLOAD_IDS = [f"{np.dtype(dtype).name}-{name}" for dtype, name in PAYLOAD_CASES]
# Small-C tiles (<= 16), around the vector widths, the row kernel, the long-row kernel.
CLASSES = (2, 3, 7, 8, 9, 16, 17, 33, 100, 40_000)
ROWS = 5
NAN_ROW = 2
IGNORE = -100


@pytest.fixture(autouse=True)
def _signalling_nans_are_expected():
    """NumPy raises FE_INVALID (a RuntimeWarning, an error here) whenever it computes with or
    casts a signalling NaN, in the reference and in these checks: expected, not a failure."""
    with np.errstate(invalid="ignore"):
        yield


def payload_nan(dtype, name):
    value = PAYLOADS[dtype][name]
    assert np.isnan(value)
    return value


def positions(classes):
    """Where the NaN goes in the row: first, last, the middle, just past a vector width."""
    return sorted({0, classes - 1, classes // 2, min(8, classes - 1), min(16, classes - 1)})


def logits_with_nan(classes, dtype, nan, position, seed=0):
    rng = np.random.default_rng([seed, classes])
    x = (rng.standard_normal((ROWS, classes)) * 3).astype(dtype)
    x[NAN_ROW, position] = nan
    assert x[NAN_ROW, position].tobytes() == np.asarray(nan, dtype).tobytes()  # bits kept
    return x


def check_rows(loss, grad, expected_loss, expected_grad, what, whole_row_nan=True):
    """The NaN row is NaN where the reference says, the other rows match the reference."""
    loss = np.asarray(loss, np.float64)
    assert np.isnan(loss[NAN_ROW]), f"{what}: the NaN row's loss is {loss[NAN_ROW]!r}, not NaN"
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(expected_loss), err_msg=what)
    other = np.arange(loss.shape[0]) != NAN_ROW
    np.testing.assert_allclose(loss[other], expected_loss[other], rtol=1e-5, atol=1e-6,
                               err_msg=what)
    if grad is None:
        return
    grad = np.asarray(grad, np.float64)
    if whole_row_nan:
        assert np.isnan(grad[NAN_ROW]).all(), f"{what}: gradient row {grad[NAN_ROW]!r}"
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(expected_grad), err_msg=what)
    np.testing.assert_allclose(grad[other], expected_grad[other], rtol=1e-5, atol=1e-6,
                               err_msg=what)


def test_issue_repro_float32_0x7fc00001(isa):
    nan = payload_nan(np.float32, "0x7FC00001")
    x = np.array([[0.0, 1.0, nan]], dtype=np.float32)
    assert np.isnan(fusedloss.softmax_cross_entropy(x, [0]))
    loss, grad, argmax = fusedloss.softmax_cross_entropy(x, [0], return_grad=True,
                                                         return_argmax=True)
    assert np.isnan(loss), loss
    assert np.isnan(grad).all(), grad
    assert argmax.tolist() == [2]


SOFTMAX_CE_OPTIONS = {
    "plain": {},
    "weight": {"weight": True},
    "weight+ignore_index": {"weight": True, "ignore_index": IGNORE},
    "sample_weight": {"sample_weight": True},
    "z_loss": {"z_loss": 1e-2},
    "label_smoothing": {"label_smoothing": 0.1},
    "softcap": {"softcap": 5.0},
    "soft_targets": {"soft": True},
    "return_argmax": {"return_argmax": True},
}


@pytest.mark.parametrize("option", list(SOFTMAX_CE_OPTIONS))
@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_softmax_cross_entropy(dtype, payload, option, isa):
    nan = payload_nan(dtype, payload)
    for classes in CLASSES:
        if option not in ("plain", "weight", "weight+ignore_index", "sample_weight") and (
                classes >= 32768):
            continue  # options run on the row kernel, covered by C = 100
        rng = np.random.default_rng(classes)
        y = rng.integers(0, classes, ROWS)
        if option == "weight+ignore_index":
            y[0] = IGNORE  # another row is ignored; the NaN row is not
        kwargs = dict(SOFTMAX_CE_OPTIONS[option])
        reference_kwargs = {}
        target = y
        if kwargs.pop("soft", False):
            target = rng.uniform(0.0, 1.0, (ROWS, classes)).astype(dtype)
        if kwargs.get("weight") is True:
            kwargs["weight"] = rng.uniform(0.5, 2.0, classes).astype(dtype)
        if kwargs.get("sample_weight") is True:
            kwargs["sample_weight"] = rng.uniform(0.5, 2.0, ROWS).astype(dtype)
        argmax_asked = kwargs.pop("return_argmax", False)
        for key in ("weight", "sample_weight", "ignore_index", "z_loss", "label_smoothing",
                    "softcap"):
            if key in kwargs:
                reference_kwargs[key] = kwargs[key]
        for position in positions(classes):
            x = logits_with_nan(classes, dtype, nan, position)
            if not isinstance(target, np.ndarray) or target.dtype.kind == "i":
                # the NaN row's label somewhere else than the NaN, and at the NaN
                y_here = target.copy()
                y_here[NAN_ROW] = position if position % 2 else (position + 1) % classes
                target_here = y_here
            else:
                target_here = target
            what = f"C={classes} NaN at {position}"
            expected_loss, expected_grad = _reference.softmax_cross_entropy(
                x, target_here, reduction="none", return_grad=True, **reference_kwargs)
            forward = fusedloss.softmax_cross_entropy(x, target_here, reduction="none",
                                                      return_argmax=argmax_asked, **kwargs)
            result = fusedloss.softmax_cross_entropy(x, target_here, reduction="none",
                                                     return_grad=True,
                                                     return_argmax=argmax_asked, **kwargs)
            if argmax_asked:
                np.testing.assert_array_equal(forward[1], np.argmax(x, axis=1), err_msg=what)
                np.testing.assert_array_equal(result[2], np.argmax(x, axis=1), err_msg=what)
                forward = forward[0]
            check_rows(forward, None, expected_loss, None, what + " (forward)")
            check_rows(result[0], result[1], expected_loss, expected_grad, what)
            assert np.isnan(fusedloss.softmax_cross_entropy(x, target_here, **kwargs)), what


@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_softmax_log_softmax_logsumexp(dtype, payload, isa):
    nan = payload_nan(dtype, payload)
    for classes in CLASSES:
        for position in positions(classes):
            x = logits_with_nan(classes, dtype, nan, position)
            what = f"C={classes} NaN at {position}"
            lse = fusedloss.logsumexp(x)
            check_rows(lse, None, _reference.logsumexp(x), None, what + " logsumexp")
            for name in ("softmax", "log_softmax"):
                got = getattr(fusedloss, name)(x)
                assert np.isnan(got[NAN_ROW]).all(), f"{what} {name}: {got[NAN_ROW]!r}"
                expected = getattr(_reference, name)(x)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=what)
                np.testing.assert_allclose(np.delete(got, NAN_ROW, 0),
                                           np.delete(expected, NAN_ROW, 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("squared", [False, True], ids=["hinge", "squared"])
@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_multiclass_hinge(dtype, payload, squared, isa):
    nan = payload_nan(dtype, payload)
    for classes in CLASSES[:-1]:
        for position in positions(classes):
            x = logits_with_nan(classes, dtype, nan, position)
            y = np.random.default_rng(classes).integers(0, classes, ROWS)
            y[NAN_ROW] = (position + 1) % classes if classes > 1 else 0
            if y[NAN_ROW] == position:
                continue
            what = f"C={classes} NaN at {position}"
            expected_loss, expected_grad = _reference.multiclass_hinge(
                x, y, squared=squared, reduction="none", return_grad=True)
            loss, grad = fusedloss.multiclass_hinge(x, y, squared=squared, reduction="none",
                                                    return_grad=True)
            forward = fusedloss.multiclass_hinge(x, y, squared=squared, reduction="none")
            check_rows(forward, None, expected_loss, None, what + " (forward)")
            # the hinge's subgradient of a NaN term is the reference's (an indicator of NaN > 0)
            check_rows(loss, grad, expected_loss, expected_grad, what, whole_row_nan=False)


@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_sigmoid_binary_cross_entropy_and_mse(dtype, payload, isa):
    nan = payload_nan(dtype, payload)
    rng = np.random.default_rng(3)
    for size in (1, 7, 8, 9, 16, 17, 33, 1000):
        for position in sorted({0, size // 2, size - 1}):
            x = (rng.standard_normal(size) * 3).astype(dtype)
            t = rng.uniform(0, 1, size).astype(dtype)
            x[position] = nan
            what = f"n={size} NaN at {position}"
            for kwargs in ({}, {"pos_weight": 2.0}, {"weight": 0.5}):
                loss, grad = fusedloss.sigmoid_binary_cross_entropy(
                    x, t, reduction="none", return_grad=True, **kwargs)
                forward = fusedloss.sigmoid_binary_cross_entropy(x, t, reduction="none", **kwargs)
                for got in (loss, forward, grad):
                    np.testing.assert_array_equal(np.isnan(got), np.isnan(x),
                                                  err_msg=f"BCE {kwargs} {what}")
            loss, grad = fusedloss.mean_squared_error(x, t, reduction="none", return_grad=True)
            for got in (loss, grad):
                np.testing.assert_array_equal(np.isnan(got), np.isnan(x), err_msg=f"MSE {what}")
            # and the target side
            loss, grad = fusedloss.mean_squared_error(t, x, reduction="none", return_grad=True)
            for got in (loss, grad):
                np.testing.assert_array_equal(np.isnan(got), np.isnan(x), err_msg=f"MSE {what}")
            assert np.isnan(fusedloss.sigmoid_binary_cross_entropy(x, t)), what
            assert np.isnan(fusedloss.mean_squared_error(x, t)), what


@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_cross_entropy(dtype, payload, isa):
    nan = payload_nan(dtype, payload)
    for classes in CLASSES[:-1]:
        rng = np.random.default_rng(classes)
        for position in positions(classes):
            p = rng.uniform(0.01, 1.0, (ROWS, classes)).astype(dtype)
            p[NAN_ROW, position] = nan
            y = rng.integers(0, classes, ROWS)
            y[NAN_ROW] = position  # a NaN probability of the label: the loss is NaN
            what = f"C={classes} NaN at {position}"
            for target in (y, rng.uniform(0.1, 1.0, (ROWS, classes)).astype(dtype)):
                expected_loss, expected_grad = _reference.cross_entropy(
                    p, None if target.dtype.kind == "f" else target,
                    targets=target if target.dtype.kind == "f" else None,
                    reduction="none", return_grad=True)
                loss, grad = fusedloss.cross_entropy(p, target, reduction="none",
                                                     return_grad=True)
                check_rows(loss, grad, expected_loss, expected_grad, what, whole_row_nan=False)


HELPERS = ["exp", "exp_nonpositive", "log", "tanh"]


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize("dtype, payload", PAYLOAD_CASES, ids=PAYLOAD_IDS)
def test_vector_math_helpers(dtype, payload, helper, isa):
    nan = payload_nan(dtype, payload)
    function = getattr(_core, f"{helper}_{'f32' if dtype == np.float32 else 'f64'}")
    for size in (1, 7, 8, 9, 16, 17, 33):
        x = np.linspace(-3.0, -0.1 if helper == "exp_nonpositive" else 3.0, size).astype(dtype)
        if helper == "log":
            x = np.abs(x) + 0.5
        for position in sorted({0, size // 2, size - 1}):
            y = x.copy()
            y[position] = nan
            got = function(y)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(y),
                                          err_msg=f"{helper} size={size} NaN at {position}: "
                                                  f"{got!r}")
