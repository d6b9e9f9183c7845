"""Special values: NaN and +-inf propagate per row (per element for elementwise functions)
exactly where the float64 reference has them, the other rows are unaffected; finite extremes
(+-1e30, +-3e38 in float32, denormals) give finite, correct answers wherever the math is finite.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference

from test_input_matrix import FUNCTIONS, LABEL_LOSSES, NAMES, data_for, native, reference

ROWS, CLASSES = 6, 5
SPECIALS = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def assert_rowwise(got_parts, want_parts, dtype):
    """NaN exactly where the reference (rounded to `dtype`) has NaN, the same infinities, and
    the finite entries close."""
    rtol = 3e-5 if np.dtype(dtype) == np.float32 else 1e-11
    for got, want in zip(got_parts, want_parts):
        got = np.asarray(got, dtype=np.float64)
        with np.errstate(over="ignore"):
            want = np.asarray(want, dtype=np.float64).astype(dtype).astype(np.float64)
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN pattern")
        infinite = np.isinf(want)
        np.testing.assert_array_equal(got[infinite], want[infinite], err_msg="infinities")
        finite = np.isfinite(want)
        assert np.isfinite(got[finite]).all(), "finite reference, non-finite result"
        np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol)


def test_hinge_infinite_score_off_the_label_column():
    x = np.array([[0.0, np.inf, 1.0], [0.0, -np.inf, 1.0]])
    got = native("multiclass_hinge", x, labels=np.array([0, 2]))
    assert_rowwise(got, reference("multiclass_hinge", x, labels=np.array([0, 2])), np.float64)
    assert got[0][0] == np.inf and np.isfinite(got[0][1])


def test_hinge_infinite_score_at_the_label_column():
    x = np.array([[0.0, -np.inf], [0.0, np.inf]])
    with np.errstate(invalid="ignore"):
        want = reference("multiclass_hinge", x, labels=np.array([1, 1]))
    assert_rowwise(native("multiclass_hinge", x, labels=np.array([1, 1])), want, np.float64)


def _with_specials(name, dtype, where):
    x = data_for(name, (ROWS, CLASSES)).astype(dtype)
    for (row, column), value in where.items():
        x[row, column] = value
    return x


# Row 1 gets a NaN, row 3 a +inf, row 4 a -inf, row 5 both infinities; rows 0 and 2 stay finite.
PLACEMENTS = {
    "nan": {(1, 2): np.nan},
    "inf": {(3, 0): np.inf},
    "-inf": {(4, 4): -np.inf},
    "mixed": {(1, 2): np.nan, (3, 0): np.inf, (4, 4): -np.inf, (5, 1): np.inf, (5, 3): -np.inf},
    "label_column_inf": {(0, 0): np.inf, (2, 2): -np.inf},  # rows 0, 2 have labels 0, 2
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("placement", list(PLACEMENTS))
@pytest.mark.parametrize("name", NAMES)
def test_special_values_in_first_argument(name, placement, dtype, request):
    x = _with_specials(name, dtype, PLACEMENTS[placement])
    with np.errstate(all="ignore"):
        want = reference(name, x)
    got = native(name, x)
    assert_rowwise(got, want, dtype)
    untouched = [r for r in range(ROWS) if all(r != row for row, _ in PLACEMENTS[placement])]
    if FUNCTIONS[name]["kind"] == "rows":  # every untouched row is finite
        for part in got:
            part = np.asarray(part)
            if part.ndim:
                assert np.isfinite(part[untouched]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", [n for n in NAMES if FUNCTIONS[n]["reduction"]])
def test_reduced_loss_with_special_values(name, reduction, dtype):
    x = _with_specials(name, dtype, PLACEMENTS["nan"])
    with np.errstate(all="ignore"):
        want = reference(name, x, reduction=reduction)
    assert_rowwise(native(name, x, reduction=reduction), want, dtype)


# Special values in the other float inputs.
OTHER_INPUTS = [
    ("mean_squared_error", "target"),
    ("sigmoid_binary_cross_entropy", "targets"),
    ("softmax_cross_entropy", "labels"),  # soft targets
    ("cross_entropy", "labels"),  # soft targets
]


@pytest.mark.parametrize("special", list(SPECIALS))
@pytest.mark.parametrize(("name", "key"), OTHER_INPUTS, ids=[f"{n}-{k}" for n, k in OTHER_INPUTS])
def test_special_values_in_targets(name, key, special):
    x = data_for(name, (ROWS, CLASSES))
    targets = np.random.default_rng(3).dirichlet(np.ones(CLASSES), ROWS)
    targets[2, 1] = SPECIALS[special]
    with np.errstate(all="ignore"):
        want = reference(name, x, **{key: targets})
    assert_rowwise(native(name, x, **{key: targets}), want, np.float64)


EXTREMES = {
    "1e30": (np.float64, 1e30),
    "-1e30": (np.float64, -1e30),
    "1e300": (np.float64, 1e300),
    "f32_1e30": (np.float32, 1e30),
    "f32_3e38": (np.float32, 3e38),
    "f32_-3e38": (np.float32, -3e38),
    "denormal": (np.float64, 5e-324),
    "f32_denormal": (np.float32, 1e-45),
    "-denormal": (np.float64, -4e-320),
}


@pytest.mark.parametrize("extreme", list(EXTREMES))
@pytest.mark.parametrize("name", NAMES)
def test_finite_extremes(name, extreme):
    dtype, value = EXTREMES[extreme]
    if name == "cross_entropy":
        value = abs(value)  # probabilities are >= 0
    x = data_for(name, (ROWS, CLASSES)).astype(dtype)
    x[1, 2] = value
    x[3, :] = value  # a whole row of it
    x[4, 0] = -value if name != "cross_entropy" else value
    with np.errstate(all="ignore"):
        want = reference(name, x)
    got = native(name, x)
    assert_rowwise(got, want, dtype)
    with np.errstate(over="ignore"):
        finite_reference = all(np.isfinite(np.asarray(part, dtype=dtype)).all() for part in want)
    if finite_reference:
        assert all(np.isfinite(np.asarray(part)).all() for part in got)


@pytest.mark.parametrize("name", LABEL_LOSSES + ["softmax", "log_softmax", "logsumexp"])
def test_all_denormal_rows(name):
    x = np.full((3, CLASSES), 5e-324)
    x[1] = -5e-324
    if name == "cross_entropy":
        x = np.abs(x)
    assert_rowwise(native(name, x), reference(name, x), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("column", ["max", "other", "neg_inf_logit"])
@pytest.mark.parametrize("special", [np.inf, -np.inf])
@pytest.mark.parametrize("weighted", [False, True])
def test_infinite_soft_target(dtype, column, special, weighted):
    # An infinite target weight makes the row's loss +-inf (t (lse - x_j) with lse - x_j > 0),
    # also at the row's max, where x_j - max = 0 (the kernel once formed inf * 0 = NaN there).
    x = np.array([[0.0, 1.0, 2.0, -1.0], [0.5, 3.0, -np.inf, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype)
    t = np.full((3, 4), 0.25)
    place = {"max": [2, 1, 0], "other": [0, 3, 3], "neg_inf_logit": [3, 2, 3]}[column]
    for row, j in enumerate(place):
        t[row, j] = special
    kwargs = {"weight": np.array([1.0, 2.0, 0.5, 1.5])} if weighted else {}
    with np.errstate(all="ignore"):
        want = _reference.softmax_cross_entropy(x, t, reduction="none", return_grad=True, **kwargs)
    got = fusedloss.softmax_cross_entropy(x, t, reduction="none", return_grad=True, **kwargs)
    assert_rowwise(got, want, dtype)
    # rows 0 and 2 hold no -inf logit (whose -log p = inf would meet a -inf target: NaN)
    assert np.isinf(got[0][[0, 2]]).all() and (np.sign(got[0][[0, 2]]) == np.sign(special)).all()


def test_mixed_infinite_soft_targets_give_nan_as_the_reference():
    x = np.array([[0.0, 1.0, 2.0], [3.0, 3.0, 3.0]])
    t = np.array([[np.inf, 0.0, -np.inf], [np.inf, 0.0, 0.0]])
    got = fusedloss.softmax_cross_entropy(x, t, reduction="none")
    with np.errstate(all="ignore"):
        want = _reference.softmax_cross_entropy(x, t, reduction="none")[0]
    assert np.isnan(got[0]) and np.isnan(want[0])
    assert got[1] == want[1] == np.inf


# ---------------------------------------------------------------- float32 intermediates (item 9)


def test_softmax_cross_entropy_row_loss_beyond_float32_stays_finite_in_the_mean(isa):
    # Row 0's loss is 6e38 (> float32 max); formed in float64, the mean over 10 rows is 6e37,
    # the float64 answer, where a float32 row loss made it inf.
    x = np.zeros((10, 2), np.float32)
    x[0] = [3e38, -3e38]
    labels = np.zeros(10, np.int64)
    labels[0] = 1
    # (label_smoothing is not here: its sum_j (x_j - m) stays float32, docs/robustness.md.)
    for kwargs in ({}, {"weight": np.array([0.5, 2.0])}, {"z_loss": 1e-40}, {"return_argmax": True}):
        value = fusedloss.softmax_cross_entropy(x, labels, **kwargs)
        value = value[0] if isinstance(value, tuple) else value
        want = _reference.softmax_cross_entropy(x.astype(np.float64), labels, **{
            k: v for k, v in kwargs.items() if k != "return_argmax"})[0]
        assert np.isfinite(value), kwargs
        np.testing.assert_allclose(float(value), want, rtol=1e-6)
        both = fusedloss.softmax_cross_entropy(x, labels, return_grad=True, **kwargs)
        assert both[0] == value
        assert np.isfinite(both[1]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_a_row_holding_plus_inf(isa, dtype):
    # exp(100) overflows float32: the finite entries must still be 0 (finite / inf), the +inf
    # entries NaN (inf / inf), as float64 computes; a NaN anywhere makes the row NaN.
    x = np.array([[np.inf, 100.0, 0.0, -np.inf], [np.inf, np.inf, 1.0, 2.0],
                  [np.inf, np.nan, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]], dtype)
    got = fusedloss.softmax(x)
    np.testing.assert_array_equal(np.isnan(got[0]), [True, False, False, False])
    np.testing.assert_array_equal(got[0, 1:], [0, 0, 0])
    np.testing.assert_array_equal(np.isnan(got[1]), [True, True, False, False])
    np.testing.assert_array_equal(got[1, 2:], [0, 0])
    assert np.isnan(got[2]).all()
    np.testing.assert_allclose(got[3], _reference.softmax(x[3:].astype(np.float64))[0], rtol=1e-6)
    inplace = x.copy()
    fusedloss.softmax(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, got)
