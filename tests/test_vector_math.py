"""The kernels' vectorised exp (`_core.exp_f32` / `_core.exp_f64`) on every ISA."""

from __future__ import annotations

import numpy as np
import pytest

from fusedloss import _core

LONGDOUBLE_IS_EXTENDED = np.finfo(np.longdouble).nmant >= 63

F32_MAX_ARG = float(np.log(np.float64(np.finfo(np.float32).max)))  # 88.7228...
F32_MIN_NORMAL_ARG = float(np.log(np.float64(np.finfo(np.float32).tiny)))  # -87.3365...
F64_MAX_ARG = 709.782712893384
F64_MIN_NORMAL_ARG = -708.3964185322641


def sweep(low, high, dtype, dense=1_000_000, random=200_000, seed=0):
    rng = np.random.default_rng(seed)
    points = np.concatenate([
        np.linspace(low, high, dense),
        rng.uniform(low, high, random),
        rng.uniform(-1, 1, random // 4),
        rng.uniform(-1e-3, 1e-3, random // 8),
    ])
    return points.astype(dtype)


def ulp_error_f32(x):
    got = _core.exp_f32(x).astype(np.float64)
    true = np.exp(x.astype(np.float64))
    spacing = np.spacing(true.astype(np.float32)).astype(np.float64)
    return np.abs(got - true) / spacing, true


def ulp_error_f64(x):
    got = _core.exp_f64(x)
    true = np.exp(x.astype(np.longdouble))
    spacing = np.spacing(true.astype(np.float64)).astype(np.longdouble)
    return np.asarray(np.abs(got.astype(np.longdouble) - true) / spacing, dtype=np.float64), true


def test_f32_within_2_ulp_over_normal_range(isa):
    x = sweep(F32_MIN_NORMAL_ARG + 1e-4, F32_MAX_ARG - 1e-4, np.float32)
    x = x[(x > F32_MIN_NORMAL_ARG) & (x < F32_MAX_ARG)]
    error, true = ulp_error_f32(x)
    assert np.all(true >= np.finfo(np.float32).tiny)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"exp_f32({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.skipif(not LONGDOUBLE_IS_EXTENDED, reason="needs an 80-bit long double reference")
def test_f64_within_2_ulp_over_normal_range(isa):
    x = sweep(F64_MIN_NORMAL_ARG + 1e-9, F64_MAX_ARG - 1e-9, np.float64)
    error, true = ulp_error_f64(x)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"exp_f64({x[worst]!r}): {error[worst]:.2f} ulp"


def test_f32_exact_at_integers_and_zero(isa):
    x = np.array([0.0, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(_core.exp_f32(x), [1.0, 1.0])
    np.testing.assert_array_equal(_core.exp_f64(x.astype(np.float64)), [1.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_special_values(isa, dtype):
    exp = _core.exp_f32 if dtype == np.float32 else _core.exp_f64
    max_arg = F32_MAX_ARG if dtype == np.float32 else F64_MAX_ARG
    x = np.array([-np.inf, np.inf, np.nan, 0.0, max_arg + 0.01, 1000.0, 1e30,
                  -1000.0, -1e30, np.finfo(dtype).max, -np.finfo(dtype).max], dtype=dtype)
    # lengths that exercise full vectors and remainder lanes
    for repeat in (1, 3, 17):
        got = exp(np.tile(x, repeat)).reshape(repeat, -1)
        assert got.dtype == dtype
        for row in got:
            assert row[0] == 0.0
            assert row[1] == np.inf
            assert np.isnan(row[2])
            assert row[3] == 1.0
            assert row[4] == np.inf and row[5] == np.inf and row[6] == np.inf
            assert row[7] == 0.0 and row[8] == 0.0
            assert row[9] == np.inf and row[10] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_subnormal_results_are_close(isa, dtype):
    exp = _core.exp_f32 if dtype == np.float32 else _core.exp_f64
    finfo = np.finfo(dtype)
    low = float(np.log(np.float64(finfo.smallest_subnormal))) + 1.0
    high = float(np.log(np.float64(finfo.tiny)))
    x = np.linspace(low, high, 10_001).astype(dtype)
    got = exp(x).astype(np.longdouble)
    true = np.exp(x.astype(np.longdouble))
    error = np.abs(got - true) / np.longdouble(finfo.smallest_subnormal)
    assert float(error.max()) <= 2.0
    assert np.all(got >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_monotone_and_shape_preserving(isa, dtype):
    exp = _core.exp_f32 if dtype == np.float32 else _core.exp_f64
    x = np.linspace(-20, 20, 4097).astype(dtype)
    got = exp(x)
    assert got.shape == x.shape
    assert np.all(np.diff(got) >= 0)
    assert exp(np.zeros(0, dtype)).shape == (0,)


# exp_nonpositive: the softmax rows' exp of d = x - max <= 0. Results below exp(-86) (float32)
# / exp(-708) (float64) are flushed to exactly 0; everything above is a normal number.
NONPOSITIVE_FLUSH = {np.float32: -86.0, np.float64: -708.0}


def test_nonpositive_f32_within_2_ulp(isa):
    x = sweep(NONPOSITIVE_FLUSH[np.float32], 0.0, np.float32)
    x = np.concatenate([x, -np.abs(sweep(-1e-3, 1e-3, np.float32, dense=10_000, random=10_000))])
    x = x[(x >= -86.0) & (x <= 0)]
    got = _core.exp_nonpositive_f32(x).astype(np.float64)
    true = np.exp(x.astype(np.float64))
    error = np.abs(got - true) / np.spacing(true.astype(np.float32)).astype(np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"exp_nonpositive_f32({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.skipif(not LONGDOUBLE_IS_EXTENDED, reason="needs an 80-bit long double reference")
def test_nonpositive_f64_within_2_ulp(isa):
    x = sweep(NONPOSITIVE_FLUSH[np.float64], 0.0, np.float64)
    x = x[(x >= -708.0) & (x <= 0)]
    got = _core.exp_nonpositive_f64(x).astype(np.longdouble)
    true = np.exp(x.astype(np.longdouble))
    spacing = np.spacing(true.astype(np.float64)).astype(np.longdouble)
    error = np.asarray(np.abs(got - true) / spacing, dtype=np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"exp_nonpositive_f64({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_nonpositive_special_values_and_flush(isa, dtype):
    exp = _core.exp_nonpositive_f32 if dtype == np.float32 else _core.exp_nonpositive_f64
    flush = NONPOSITIVE_FLUSH[dtype]
    below = np.nextafter(dtype(flush), dtype(-np.inf))
    x = np.array([0.0, -0.0, -np.inf, np.nan, flush, below, -1e30, -np.finfo(dtype).max], dtype=dtype)
    for repeat in (1, 3, 17):  # full vectors and remainder lanes
        got = exp(np.tile(x, repeat)).reshape(repeat, -1)
        for row in got:
            assert row[0] == 1.0 and row[1] == 1.0
            assert row[2] == 0.0 and np.isnan(row[3])
            # at the flush threshold a normal number, close to exp; below it exactly 0
            true = np.exp(np.longdouble(flush))
            assert row[4] >= np.finfo(dtype).tiny and abs(row[4] - true) <= 2 * np.spacing(dtype(true))
            assert row[5] == 0.0 and row[6] == 0.0 and row[7] == 0.0
    # monotone over the whole range, shape kept, empty input
    d = np.linspace(flush, 0.0, 8193).astype(dtype)
    got = exp(d)
    assert got.shape == d.shape and np.all(np.diff(got) >= 0)
    assert exp(np.zeros(0, dtype)).shape == (0,)


def test_expm1_small_f64_within_2_ulp(isa):
    """The focal loss's expm1 on [-ln 2, 0] (its small-C tiles: 1 - p_y = -expm1(-ce)):
    relative accuracy down to the tiniest arguments, where exp(x) - 1 would cancel."""
    rng = np.random.default_rng(7)
    ln2 = float(np.log(2.0))
    x = np.concatenate([
        -np.linspace(0.0, ln2, 20001),
        -rng.uniform(0.0, ln2, 20000),
        -np.logspace(-300, np.log10(ln2), 4000),
        [-0.0, -5e-324, -np.finfo(np.float64).tiny],
    ])
    got = _core.expm1_small_f64(x)
    true = np.expm1(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(true).astype(np.float64)).astype(np.longdouble)
    nonzero = true != 0
    error = np.asarray(np.abs(got[nonzero].astype(np.longdouble) - true[nonzero]) / spacing[nonzero],
                       dtype=np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"expm1_small_f64({x[nonzero][worst]!r}): {error[worst]:.2f} ulp"
    assert got[x == 0].tolist() == [0.0] * int(np.sum(x == 0)) and np.isnan(_core.expm1_small_f64(np.array([np.nan])))[0]
