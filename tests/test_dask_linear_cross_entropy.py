"""fusedloss.dask.linear_cross_entropy: the in-memory function over Dask row chunks.

The loss equals the in-memory one within 1 ulp of its dtype (float64 partial sums in another
order), d_input, d_linear_weight and d_linear_bias within float rounding (other chunk
boundaries: GEMMs over other row counts, sums over other chunks); every result is bitwise
identical across schedulers, thread counts and runs for a fixed chunking."""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import fusedloss  # noqa: E402
import fusedloss.dask as fd  # noqa: E402

ROW_CHUNKS = (120, 0, 200, 77, 3)
ROWS = sum(ROW_CHUNKS)


def problem(dtype=np.float64, classes=40, features=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, features)).astype(dtype)
    w = (rng.standard_normal((classes, features)) / np.sqrt(features)).astype(dtype)
    b = rng.standard_normal(classes).astype(dtype)
    y = rng.integers(0, classes, ROWS)
    y[120:320:3] = -100
    return x, w, b, y


def ulp_close(got, expected, ulps=1):
    got = np.asarray(got)
    spacing = np.spacing(np.abs(np.asarray(expected, got.dtype)))
    assert np.all(np.abs(got.astype(np.float64) - np.asarray(expected, np.float64)) <= ulps * spacing)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1, "z_loss": 1e-3},
                                     {"weight": "classes", "sample_weight": "rows", "softcap": 4.0}],
                         ids=["plain", "smoothing-zloss", "weights-softcap"])
def test_equals_in_memory(dtype, reduction, options):
    x, w, b, y = problem(dtype)
    rng = np.random.default_rng(1)
    options = dict(options)
    if options.get("weight") == "classes":
        options["weight"] = rng.uniform(0.5, 2.0, w.shape[0])
    if options.get("sample_weight") == "rows":
        options["sample_weight"] = rng.uniform(0.0, 2.0, ROWS)
    xd = da.from_array(x, chunks=(ROW_CHUNKS, -1))
    lazy = fd.linear_cross_entropy(xd, w, y, linear_bias=b, reduction=reduction, return_grad=True,
                                   return_argmax=True, **options)
    loss, (dx, dw, db), argmax = dask.compute(*lazy, scheduler="threads")
    e_loss, (e_dx, e_dw, e_db), e_argmax = fusedloss.linear_cross_entropy(
        x, w, y, linear_bias=b, reduction=reduction, return_grad=True, return_argmax=True, **options)
    assert np.asarray(loss).dtype == dtype and dx.dtype == dw.dtype == db.dtype == dtype
    if reduction == "none":
        np.testing.assert_array_equal(loss, e_loss)
    else:
        ulp_close(loss, e_loss, 1 if dtype == np.float32 else 8)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dx, e_dx, rtol=rtol, atol=rtol * np.abs(e_dx).max())
    np.testing.assert_allclose(dw, e_dw, rtol=rtol, atol=rtol * np.abs(e_dw).max())
    np.testing.assert_allclose(db, e_db, rtol=rtol, atol=rtol * np.abs(e_db).max())
    np.testing.assert_array_equal(argmax, e_argmax)


def test_bitwise_across_schedulers_and_threads():
    x, w, b, y = problem(np.float32)
    xd = da.from_array(x, chunks=(ROW_CHUNKS, -1))
    runs = []
    for scheduler, threads in (("sync", 1), ("threads", 2), ("threads", None)):
        lazy = fd.linear_cross_entropy(xd, w, y, linear_bias=b, return_grad=True, threads=threads)
        loss, grads = dask.compute(*lazy, scheduler=scheduler)
        runs.append((loss, *grads))
    for other in runs[1:]:
        for first, second in zip(runs[0], other):
            np.testing.assert_array_equal(first, second)


def test_batch_shape_and_dask_weights():
    x, w, b, y = problem()
    x3 = x.reshape(40, 10, -1)
    xd = da.from_array(x3, chunks=(7, 5, -1))
    wd = da.from_array(w, chunks=(13, 5))
    loss, (dx, dw, db) = dask.compute(*fd.linear_cross_entropy(
        xd, wd, da.from_array(y.reshape(40, 10), chunks=(9, 4)), linear_bias=da.from_array(b, chunks=7),
        reduction="none", return_grad=True), scheduler="threads")
    e_loss, (e_dx, e_dw, e_db) = fusedloss.linear_cross_entropy(
        x3, w, y.reshape(40, 10), linear_bias=b, reduction="none", return_grad=True)
    assert loss.shape == (40, 10) and dx.shape == x3.shape
    np.testing.assert_allclose(loss, e_loss, rtol=1e-13)
    np.testing.assert_allclose(dw, e_dw, rtol=1e-12, atol=1e-13)


def test_loss_only_and_errors():
    x, w, b, y = problem()
    xd = da.from_array(x, chunks=(ROW_CHUNKS, -1))
    loss = fd.linear_cross_entropy(xd, w, y).compute(scheduler="threads")
    assert loss == pytest.approx(float(fusedloss.linear_cross_entropy(x, w, y)), rel=1e-14)
    with pytest.raises(ValueError, match="single chunk"):
        fd.linear_cross_entropy(da.from_array(x, chunks=(100, 6)), w, y)
    with pytest.raises(ValueError, match="linear_weight"):
        fd.linear_cross_entropy(xd, w[:, :-1], y)
    with pytest.raises(TypeError, match="soft targets"):
        fd.linear_cross_entropy(xd, w, np.zeros((ROWS, w.shape[0])))
    with pytest.raises(ValueError, match="out"):
        fd.linear_cross_entropy(xd, w, y, return_grad=True, out=(np.empty_like(x), np.empty_like(w)))
    bad = y.copy()
    bad[5] = 1000
    with pytest.raises(ValueError, match="out of range"):
        fd.linear_cross_entropy(xd, w, bad).compute(scheduler="sync")
