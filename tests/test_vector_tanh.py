"""The kernels' vectorised tanh (`_core.tanh_f32` / `_core.tanh_f64`, used by `softcap`) on every ISA."""

from __future__ import annotations

import numpy as np
import pytest

from fusedloss import _core

LONGDOUBLE_IS_EXTENDED = np.finfo(np.longdouble).nmant >= 63


def sweep(dtype, seed=0):
    rng = np.random.default_rng(seed)
    points = np.concatenate([
        np.linspace(-20.0, 20.0, 1_000_001),
        rng.uniform(-1.0, 1.0, 200_000),
        rng.uniform(0.5, 0.6, 50_000),  # both sides of the switch between the two formulas
        rng.uniform(-1e-3, 1e-3, 50_000),
        np.geomspace(1e-30, 1.0, 100_000),
        -np.geomspace(1e-30, 1.0, 100_000),
    ])
    return points.astype(dtype)


def test_f32_within_2_ulp(isa):
    x = sweep(np.float32)
    got = _core.tanh_f32(x).astype(np.float64)
    true = np.tanh(x.astype(np.float64))
    spacing = np.spacing(np.abs(true).astype(np.float32)).astype(np.float64)
    error = np.abs(got - true) / spacing
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"tanh_f32({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.skipif(not LONGDOUBLE_IS_EXTENDED, reason="needs an 80-bit long double reference")
def test_f64_within_2_ulp(isa):
    x = sweep(np.float64)
    got = _core.tanh_f64(x).astype(np.longdouble)
    true = np.tanh(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(true.astype(np.float64))).astype(np.longdouble)
    error = np.asarray(np.abs(got - true) / spacing, dtype=np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"tanh_f64({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_special_values_and_saturation(isa, dtype):
    tanh = _core.tanh_f32 if dtype == np.float32 else _core.tanh_f64
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 50.0, -50.0, 1e30, -1e30], dtype)
    got = tanh(x)
    np.testing.assert_array_equal(got, [1.0, -1.0, np.nan, 0.0, 1.0, -1.0, 1.0, -1.0])
    tiny = np.array([np.finfo(dtype).smallest_subnormal, np.finfo(dtype).tiny, 1e-20], dtype)
    np.testing.assert_array_equal(tanh(tiny), tiny)  # tanh(u) = u to the last bit there


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_odd_bounded_and_monotone(isa, dtype):
    tanh = _core.tanh_f32 if dtype == np.float32 else _core.tanh_f64
    x = np.linspace(0.0, 12.0, 200_001).astype(dtype)
    positive = tanh(x)
    np.testing.assert_array_equal(tanh(-x), -positive)
    assert np.all(np.abs(positive) <= 1.0)
    assert np.all(np.diff(positive) >= 0)
