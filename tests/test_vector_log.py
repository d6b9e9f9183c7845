"""The kernels' vectorised log (`_core.log_f32` / `_core.log_f64`) on every ISA."""

from __future__ import annotations

import numpy as np
import pytest

from fusedloss import _core

LONGDOUBLE_IS_EXTENDED = np.finfo(np.longdouble).nmant >= 63


def sweep(dtype, seed=0):
    finfo = np.finfo(dtype)
    rng = np.random.default_rng(seed)
    points = np.concatenate([
        np.geomspace(float(finfo.tiny), float(finfo.max) / 4, 400_000),
        np.geomspace(float(finfo.smallest_subnormal), float(finfo.tiny), 10_000),
        np.linspace(0.5, 2.0, 200_000),
        1.0 + rng.uniform(-1e-3, 1e-3, 50_000),
        np.exp(rng.uniform(-80, 80, 100_000)),
    ])
    return points.astype(dtype)


def test_f32_within_1_ulp(isa):
    x = sweep(np.float32)
    x = x[(x > 0) & np.isfinite(x)]
    got = _core.log_f32(x).astype(np.float64)
    true = np.log(x.astype(np.float64))
    spacing = np.spacing(np.abs(true).astype(np.float32)).astype(np.float64)
    error = np.abs(got - true) / spacing
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"log_f32({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.skipif(not LONGDOUBLE_IS_EXTENDED, reason="needs an 80-bit long double reference")
def test_f64_within_1_ulp(isa):
    x = sweep(np.float64)
    x = x[(x > 0) & np.isfinite(x)]
    got = _core.log_f64(x).astype(np.longdouble)
    true = np.log(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(true.astype(np.float64))).astype(np.longdouble)
    error = np.asarray(np.abs(got - true) / spacing, dtype=np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"log_f64({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_special_values(isa, dtype):
    log = _core.log_f32 if dtype == np.float32 else _core.log_f64
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 2.0, np.finfo(dtype).max],
                 dtype=dtype)
    for repeat in (1, 3, 17):  # full vectors and remainder lanes
        got = log(np.tile(x, repeat)).reshape(repeat, -1)
        assert got.dtype == dtype
        for row in got:
            assert row[0] == -np.inf and row[1] == -np.inf
            assert np.isnan(row[2]) and np.isnan(row[4]) and np.isnan(row[5])
            assert row[3] == np.inf
            assert row[6] == 0.0
            assert abs(float(row[7]) - np.log(2.0)) <= np.spacing(dtype(np.log(2.0)))
            assert np.isfinite(row[8])
    assert log(np.zeros(0, dtype)).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_monotone(isa, dtype):
    log = _core.log_f32 if dtype == np.float32 else _core.log_f64
    got = log(np.geomspace(1e-30, 1e30, 40_001).astype(dtype))
    assert np.all(np.diff(got) >= 0)


# log1p_unit_interval: the sigmoid losses' log(1 + e), e = exp(-|x|) in [0, 1], without rounding
# 1 + e (f = e below 1/2, f = (e - 1)/2 with ln 2 added above: both exact).
def unit_interval_sweep(dtype, seed=1):
    rng = np.random.default_rng(seed)
    finfo = np.finfo(dtype)
    points = np.concatenate([
        np.linspace(0.0, 1.0, 400_001),
        np.geomspace(float(finfo.smallest_subnormal), 1.0, 200_000),
        0.5 + rng.uniform(-1e-3, 1e-3, 50_000),  # around the switch of formula
        np.exp(-np.abs(rng.normal(0, 20, 100_000))),  # what the sigmoid losses pass
        [0.0, 0.5, np.nextafter(0.5, 0), 1.0, np.nextafter(1.0, 0)],
    ])
    return points.astype(dtype)


def test_log1p_unit_interval_f32_within_1_ulp(isa):
    x = unit_interval_sweep(np.float32)
    got = _core.log1p_unit_interval_f32(x).astype(np.float64)
    true = np.log1p(x.astype(np.float64))
    spacing = np.spacing(np.maximum(true, np.finfo(np.float32).smallest_subnormal).astype(np.float32)).astype(np.float64)
    error = np.abs(got - true) / spacing
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"log1p_unit_interval_f32({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.skipif(not LONGDOUBLE_IS_EXTENDED, reason="needs an 80-bit long double reference")
def test_log1p_unit_interval_f64_within_1_ulp(isa):
    x = unit_interval_sweep(np.float64)
    got = _core.log1p_unit_interval_f64(x).astype(np.longdouble)
    true = np.log1p(x.astype(np.longdouble))
    spacing = np.spacing(np.maximum(true, np.finfo(np.float64).smallest_subnormal).astype(np.float64)).astype(np.longdouble)
    error = np.asarray(np.abs(got - true) / spacing, dtype=np.float64)
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"log1p_unit_interval_f64({x[worst]!r}): {error[worst]:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_log1p_unit_interval_special_values(isa, dtype):
    log1p = _core.log1p_unit_interval_f32 if dtype == np.float32 else _core.log1p_unit_interval_f64
    x = np.array([0.0, -0.0, 1.0, np.nan, -np.nan, np.finfo(dtype).smallest_subnormal], dtype=dtype)
    for repeat in (1, 3, 17):  # full vectors and remainder lanes
        got = log1p(np.tile(x, repeat)).reshape(repeat, -1)
        for row in got:
            assert row[0] == 0.0 and row[1] == 0.0
            assert row[2] == dtype(np.log(2.0))
            assert np.isnan(row[3]) and np.isnan(row[4])
            assert row[5] == x[5]  # log1p(e) = e for tiny e
