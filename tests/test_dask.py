"""fusedloss.dask: every loss on Dask arrays against the in-memory fusedloss call on the same data.

Guarantee checked here (see docs/dask.md): per-row results ("none") and gradients are
bitwise equal to the in-memory call (GRAD_ULP = 0 ulp); a "mean"/"sum" loss is within
LOSS_ULP ulp of the in-memory value of its dtype (only the order of the float64 accumulation
differs); every result is bitwise identical across runs, thread counts, the threaded scheduler
and a two-process distributed cluster, for a fixed chunking.
"""

from __future__ import annotations

import contextlib
import socket

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fusedloss  # noqa: E402
import fusedloss.dask as fd  # noqa: E402
from fusedloss import _reference  # noqa: E402

GRAD_ULP = 0
# A scalar loss is a float64 sum in another order (chunk partial sums, tree-combined), so it
# differs from the in-memory one by float64 rounding only: at most 1 ulp once cast to float32,
# and, for float64, within the error bound of the float64 sums themselves: both sum the same
# N non-negative terms in a different order, so they differ by at most 2 (N + 1) u relative
# (u = 2**-53, recursive-summation bound; measured: at most ~1e-14 relative, 1000 rows).
LOSS_ULP = 1
REDUCTIONS = ("mean", "sum", "none")
# uneven chunks, an empty chunk, and (with IGNORED below) a chunk holding only ignored rows
ROW_CHUNKS = (300, 0, 200, 437, 63)
ROWS = sum(ROW_CHUNKS)
IGNORED = slice(300, 500)
C = 7
LOSS_RTOL64 = 2 * (ROWS + 1) * 2.0**-53


# Loopback only, and no fixed port anywhere: the scheduler always starts an HTTP server, and
# with dashboard_address=None it first tries port 8787; when that is taken (a Dask dashboard
# open, a second test run) it falls back to another port but leaks the first socket, whose
# ResourceWarning fails the suite. ":0" asks the OS for a free port.
CLUSTER_KWARGS = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      scheduler_port=0, dashboard_address="127.0.0.1:0")
DASK_DEFAULT_DASHBOARD_PORT = 8787


@contextlib.contextmanager
def port_taken(port):
    """Hold `port` on every interface (when free) so the cluster below starts as it would
    beside an open Dask dashboard; nothing in the suite may depend on a fixed port."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            holder.bind(("0.0.0.0", port))
            holder.listen(1)
        except OSError:
            pass  # taken already: the case this guards
        yield
    finally:
        holder.close()


@pytest.fixture(scope="module")
def client():
    # One cluster for the module (startup is slow), started while 8787 is taken.
    with port_taken(DASK_DEFAULT_DASHBOARD_PORT):
        cluster = distributed.LocalCluster(**CLUSTER_KWARGS)
        client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def compute(*objects, scheduler="threads", **kwargs):
    return dask.compute(*objects, scheduler=scheduler, **kwargs)


def ulp_distance(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.size == 0:
        return 0
    both_nan = np.isnan(a) & np.isnan(b)
    a = np.where(both_nan, 0, a).astype(a.dtype)
    b = np.where(both_nan, 0, b).astype(b.dtype)
    ints = {4: np.int32, 8: np.int64, 2: np.int16}[a.dtype.itemsize]
    ia = a.view(ints).astype(object)
    ib = b.view(ints).astype(object)
    # map sign-magnitude floats to a monotonic integer line
    top = 1 << (8 * a.dtype.itemsize - 1)
    ia = np.where(np.asarray(ia) < 0, -top - np.asarray(ia), ia)
    ib = np.where(np.asarray(ib) < 0, -top - np.asarray(ib), ib)
    return int(np.max(np.abs(ia - ib)))


def assert_matches(result, expected, reduction, return_grad=True, row_tolerance=False):
    if not return_grad:
        result, expected = (result,), (expected,)
    loss, ref_loss = result[0], expected[0]
    assert np.asarray(loss).dtype == np.asarray(ref_loss).dtype
    if reduction == "none":
        assert ulp_distance(loss, ref_loss) == 0
    else:
        assert np.shape(loss) == ()
        if np.asarray(loss).dtype == np.float64:
            assert abs(loss - ref_loss) <= LOSS_RTOL64 * abs(ref_loss), (loss, ref_loss)
        else:
            assert ulp_distance(loss, ref_loss) <= LOSS_ULP, (loss, ref_loss)
    for got, want in zip(result[1:], expected[1:]):
        assert got.shape == want.shape and got.dtype == want.dtype
        if got.dtype == np.float64 and row_tolerance:  # float32 stays bitwise
            # Options path with float row weights: the factor 1/D enters the kernel's float64 row
            # coefficient in another association (one more rounding), and the softmax and
            # target terms cancel partly; measured at most 156 eps of the row's largest entry.
            bound = 256 * np.finfo(got.dtype).eps * np.abs(want).max(axis=-1, keepdims=True)
            assert np.all(np.abs(got.astype(np.float64) - want) <= bound)
        elif got.dtype.kind == "f":
            assert ulp_distance(got, want) <= GRAD_ULP
        else:
            np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((ROWS, C)) * 3
    y = rng.integers(0, C, ROWS)
    y[IGNORED] = -100
    y[rng.random(ROWS) < 0.05] = -100
    soft = rng.random((ROWS, C))
    soft /= soft.sum(-1, keepdims=True)
    probs = _reference.softmax(rng.standard_normal((ROWS, C)))
    return dict(x=x, y=y, yv=np.where(y < 0, 0, y), soft=soft, probs=probs,
                sw=rng.random(ROWS) * 2, cw=rng.random(C) + 0.5)


SCE_OPTIONS = [
    {},
    {"sample_weight": "sw"},
    {"weight": "cw"},
    {"weight": "cw", "sample_weight": "sw"},
    {"label_smoothing": 0.1, "weight": "cw"},
    {"z_loss": 1e-3, "softcap": 5.0},
    {"z_loss": 1e-3, "sample_weight": "sw", "weight": "cw"},
    {"return_argmax": True, "sample_weight": "sw"},
    {"ignore_index": 3, "labels": "yv"},
]


def _options_path_weighted(kw, soft=False):
    """float64 gradients here are within a few eps of the row scale, not bitwise (README)."""
    options = soft or "label_smoothing" in kw or "z_loss" in kw
    return options and ("weight" in kw or "sample_weight" in kw)


def _resolve(options, data):
    return {k: data[v] if isinstance(v, str) else v for k, v in options.items()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", SCE_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_softmax_cross_entropy_matches_in_memory(data, options, reduction, dtype):
    x = data["x"].astype(dtype)
    kw = _resolve(options, data)
    y = kw.pop("labels", data["y"])
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    expected = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, return_grad=True, **kw)
    result = compute(*fd.softmax_cross_entropy(dx, y, reduction=reduction, return_grad=True, **kw))
    assert_matches(result, expected, reduction, row_tolerance=_options_path_weighted(kw))
    # forward only (the in-memory options path with return_argmax may round a weighted row
    # loss differently from the plain path, so compare with the same in-memory call)
    kw.pop("return_argmax", None)
    forward = compute(fd.softmax_cross_entropy(dx, y, reduction=reduction, **kw))[0]
    assert_matches(forward, fusedloss.softmax_cross_entropy(x, y, reduction=reduction, **kw), reduction,
                   return_grad=False)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_targets_and_probabilities(data, reduction):
    x = data["x"].astype(np.float32)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    dsoft = da.from_array(data["soft"], chunks=(100, C))  # different chunking: realigned
    for kw in ({}, {"sample_weight": data["sw"], "label_smoothing": 0.05}):
        expected = fusedloss.softmax_cross_entropy(x, data["soft"], reduction=reduction, return_grad=True, **kw)
        result = compute(*fd.softmax_cross_entropy(dx, dsoft, reduction=reduction, return_grad=True, **kw))
        assert_matches(result, expected, reduction)  # float32: bitwise
    x64 = data["x"]
    kw = {"sample_weight": data["sw"], "weight": data["cw"]}
    expected = fusedloss.softmax_cross_entropy(x64, data["soft"], reduction=reduction, return_grad=True, **kw)
    result = compute(*fd.softmax_cross_entropy(da.from_array(x64, chunks=(ROW_CHUNKS, C)), dsoft,
                                               reduction=reduction, return_grad=True, **kw))
    assert_matches(result, expected, reduction, row_tolerance=True)
    p = data["probs"]
    dp = da.from_array(p, chunks=(ROW_CHUNKS, C))
    for labels in (data["yv"], data["soft"]):
        for kw in ({}, {"sample_weight": data["sw"], "eps": 1e-4}):
            expected = fusedloss.cross_entropy(p, labels, reduction=reduction, return_grad=True, **kw)
            result = compute(*fd.cross_entropy(dp, labels, reduction=reduction, return_grad=True, **kw))
            assert_matches(result, expected, reduction)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multiclass_hinge(data, reduction, dtype):
    x = data["x"].astype(dtype)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    for kw in ({}, {"weight": data["cw"], "sample_weight": data["sw"], "squared": True, "margin": 0.5}):
        expected = fusedloss.multiclass_hinge(x, data["yv"], reduction=reduction, return_grad=True, **kw)
        result = compute(*fd.multiclass_hinge(dx, data["yv"], reduction=reduction, return_grad=True, **kw))
        assert_matches(result, expected, reduction)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_elementwise_losses(data, reduction, dtype):
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((ROWS, 6)).astype(dtype)
    target = rng.random((ROWS, 6))
    dpred = da.from_array(pred, chunks=(ROW_CHUNKS, (4, 2)))  # chunked along both axes
    cases = [
        (fusedloss.mean_squared_error, fd.mean_squared_error, target, {}),
        (fusedloss.mean_squared_error, fd.mean_squared_error, rng.random(6), {"sample_weight": data["sw"]}),
        (fusedloss.sigmoid_binary_cross_entropy, fd.sigmoid_binary_cross_entropy, target, {}),
        (fusedloss.sigmoid_binary_cross_entropy, fd.sigmoid_binary_cross_entropy, target,
         {"weight": rng.random(6), "pos_weight": rng.random((ROWS, 6)) + 0.5, "sample_weight": data["sw"]}),
        # a registry entry with an element weight: per class (periodic in the kernel), full
        # (a Dask array in another chunking: realigned), and each gamma's kernel
        (fusedloss.sigmoid_focal_loss, fd.sigmoid_focal_loss, target,
         {"weight": rng.random(6), "sample_weight": data["sw"]}),
        (fusedloss.sigmoid_focal_loss, fd.sigmoid_focal_loss, target,
         {"weight": rng.random((ROWS, 6)), "gamma": 0.5, "alpha": -1.0}),
        (fusedloss.sigmoid_focal_loss, fd.sigmoid_focal_loss, target, {"gamma": 0.0}),
    ]
    for in_memory, on_dask, t, kw in cases:
        expected = in_memory(pred, t, reduction=reduction, return_grad=True, **kw)
        dt = da.from_array(t, chunks=50) if t.ndim == 2 else t
        if in_memory is fusedloss.sigmoid_focal_loss and np.ndim(kw.get("weight")) == 2:
            kw = dict(kw, weight=da.from_array(kw["weight"], chunks=(128, 6)))
        result = compute(*on_dask(dpred, dt, reduction=reduction, return_grad=True, **kw))
        assert_matches(result, expected, reduction)
        forward = compute(on_dask(dpred, dt, reduction=reduction, **kw))[0]
        assert_matches(forward, expected[0], reduction, return_grad=False)


def test_leading_batch_axes_chunked_in_both(data):
    x = data["x"][:990].reshape(30, 33, C).astype(np.float32)
    y = data["y"][:990].reshape(30, 33)
    sw = data["sw"][:990]
    dx = da.from_array(x, chunks=((7, 23), (10, 0, 23), C))
    dsw = da.from_array(sw, chunks=400)  # (N,) weights in another chunking: realigned
    for reduction in REDUCTIONS:
        kw = dict(weight=data["cw"], label_smoothing=0.1, reduction=reduction, return_grad=True)
        expected = fusedloss.softmax_cross_entropy(x, y, sample_weight=sw, **kw)
        result = compute(*fd.softmax_cross_entropy(dx, y, sample_weight=dsw, **kw))
        assert_matches(result, expected, reduction)
        assert result[1].shape == x.shape


def test_mismatched_label_chunks_are_realigned(data):
    x = data["x"].astype(np.float32)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    dy = da.from_array(data["y"], chunks=128)
    loss, grad = fd.softmax_cross_entropy(dx, dy, return_grad=True)
    assert grad.chunks == dx.chunks
    assert_matches(compute(loss, grad), fusedloss.softmax_cross_entropy(x, data["y"], return_grad=True), "mean")


def test_numpy_inputs_mixed_in(data):
    x = data["x"]
    expected = fusedloss.softmax_cross_entropy(x, data["y"], sample_weight=data["sw"], return_grad=True)
    result = compute(*fd.softmax_cross_entropy(x, da.from_array(data["y"], chunks=250),
                                               sample_weight=data["sw"], return_grad=True))
    assert_matches(result, expected, "mean")


def test_all_rows_ignored_gives_zero(data):
    dx = da.from_array(data["x"], chunks=(ROW_CHUNKS, C))
    loss, grad = compute(*fd.softmax_cross_entropy(dx, np.full(ROWS, -100), return_grad=True))
    assert loss == 0.0 and not np.any(grad)


def test_building_blocks_bitwise(data):
    x = data["x"].astype(np.float32).reshape(ROWS // 10, 10, C)
    dx = da.from_array(x, chunks=(17, 4, C))
    for name in ("softmax", "log_softmax", "logsumexp"):
        got = compute(getattr(fd, name)(dx))[0]
        assert ulp_distance(got, getattr(fusedloss, name)(x)) == 0


def test_class_axis_split_is_an_error(data):
    dx = da.from_array(data["x"], chunks=(100, 3))
    with pytest.raises(ValueError, match=r"class axis.*single chunk.*rechunk\(\{-1: -1\}\)"):
        fd.softmax_cross_entropy(dx, data["yv"])
    with pytest.raises(ValueError, match="single chunk"):
        fd.softmax(dx)
    fixed = fd.softmax_cross_entropy(dx.rechunk({-1: -1}), data["yv"])
    np.testing.assert_allclose(compute(fixed)[0], fusedloss.softmax_cross_entropy(data["x"], data["yv"]),
                               rtol=LOSS_RTOL64)


def test_bad_arguments(data):
    dx = da.from_array(data["x"], chunks=(100, C))
    with pytest.raises(ValueError, match="reduction"):
        fd.softmax_cross_entropy(dx, data["yv"], reduction="avg")
    with pytest.raises(ValueError, match="out"):
        fd.softmax_cross_entropy(dx, data["yv"], return_grad=True, out=np.empty_like(data["x"]))
    with pytest.raises(ValueError, match="labels"):
        fd.softmax_cross_entropy(dx, data["yv"][:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        fd.multiclass_hinge(dx, data["yv"], sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="weight"):
        fd.softmax_cross_entropy(dx, data["yv"], weight=np.ones(C + 1))
    with pytest.raises(ValueError, match="label_smoothing"):
        fd.softmax_cross_entropy(dx, data["yv"], label_smoothing=2.0)
    with pytest.raises(ValueError, match="target"):
        fd.mean_squared_error(dx, np.ones(C + 2))
    bad = data["yv"].copy()
    bad[555] = C
    loss = fd.softmax_cross_entropy(dx, bad)  # labels are checked by the chunk's kernel
    with pytest.raises(ValueError, match=rf"label {C} at row 55 .*chunk at batch index \(500,\)"):
        compute(loss)


def test_one_kernel_call_per_chunk_when_computed_together(data, monkeypatch):
    calls = []
    original = fusedloss._classification._call  # every call of a row-wise loss of the registry

    def counting(entry, x, *args, **kwargs):
        calls.append(x.shape[0])
        return original(entry, x, *args, **kwargs)

    monkeypatch.setattr(fusedloss._classification, "_call", counting)
    dx = da.from_array(data["x"], chunks=(ROW_CHUNKS, C))
    loss, grad = fd.softmax_cross_entropy(dx, data["y"], return_grad=True)
    calls.clear()  # the eager argument check on an empty batch
    compute(loss, grad)
    assert sorted(calls) == sorted(ROW_CHUNKS)


def _all_losses(data, dtype=np.float32):
    x = data["x"].astype(dtype)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    dp = da.from_array(data["probs"], chunks=(ROW_CHUNKS, C))
    yield "sce", fd.softmax_cross_entropy(dx, data["y"], weight=data["cw"], sample_weight=data["sw"],
                                          label_smoothing=0.1, return_grad=True), \
        fusedloss.softmax_cross_entropy(x, data["y"], weight=data["cw"], sample_weight=data["sw"],
                                        label_smoothing=0.1, return_grad=True)
    yield "hinge", fd.multiclass_hinge(dx, data["yv"], sample_weight=data["sw"], return_grad=True), \
        fusedloss.multiclass_hinge(x, data["yv"], sample_weight=data["sw"], return_grad=True)
    yield "ce", fd.cross_entropy(dp, data["yv"], return_grad=True), \
        fusedloss.cross_entropy(data["probs"], data["yv"], return_grad=True)
    yield "mse", fd.mean_squared_error(dx, data["soft"], sample_weight=data["sw"], return_grad=True), \
        fusedloss.mean_squared_error(x, data["soft"], sample_weight=data["sw"], return_grad=True)
    yield "bce", fd.sigmoid_binary_cross_entropy(dx, data["soft"], return_grad=True), \
        fusedloss.sigmoid_binary_cross_entropy(x, data["soft"], return_grad=True)


def _bits(values):
    return [np.asarray(v).tobytes() for v in values]


def test_bitwise_identical_across_runs_threads_and_workers(data):
    for name, lazy, expected in _all_losses(data):
        first = compute(*lazy, scheduler="sync")
        assert_matches(first, expected, "mean", row_tolerance=name == "sce")
        for workers in (1, 2, 4):
            again = compute(*lazy, scheduler="threads", num_workers=workers)
            assert _bits(again) == _bits(first), name
    x = data["x"]
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    runs = {_bits(compute(*fd.softmax_cross_entropy(dx, data["y"], return_grad=True, threads=t)))[1]
            for t in (1, 2, None)}
    assert len(runs) == 1


def test_distributed_cluster_matches_threaded_bitwise(client, data):
    for dtype in (np.float32, np.float64):
        cases = list(_all_losses(data, dtype))
        futures = client.compute([part for _, lazy, _ in cases for part in lazy])
        got = client.gather(futures)
        for i, (name, lazy, expected) in enumerate(cases):
            result = tuple(got[2 * i: 2 * i + 2])
            assert_matches(result, expected, "mean", row_tolerance=name == "sce")
            assert _bits(result) == _bits(compute(*lazy)), name
    # "none" and an argmax over the cluster
    dx = da.from_array(data["x"], chunks=(ROW_CHUNKS, C))
    lazy = fd.softmax_cross_entropy(dx, data["y"], reduction="none", return_grad=True, return_argmax=True)
    result = tuple(client.gather(client.compute(list(lazy))))
    expected = fusedloss.softmax_cross_entropy(data["x"], data["y"], reduction="none", return_grad=True,
                                               return_argmax=True)
    assert_matches(result, expected, "none")


def test_against_float64_reference(data):
    # independent of the in-memory kernels: the float64 NumPy reference
    dx = da.from_array(data["x"], chunks=(ROW_CHUNKS, C))
    loss, grad = compute(*fd.softmax_cross_entropy(dx, data["y"], weight=data["cw"], return_grad=True))
    ref_loss, ref_grad = _reference.softmax_cross_entropy(data["x"], data["y"], weight=data["cw"],
                                                          reduction="mean", return_grad=True)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalties(dtype):
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((300, 40)) * 2).astype(dtype)
    w[rng.random(w.shape) < 0.1] = 0
    dw = da.from_array(w, chunks=((100, 0, 150, 50), (25, 15)))
    for name, args in (("l2_penalty", (0.3,)), ("l1_penalty", (0.3,)), ("elastic_net_penalty", (0.3, 0.7))):
        expected = getattr(fusedloss, name)(w, *args, return_grad=True)
        result = compute(*getattr(fd, name)(dw, *args, return_grad=True))
        assert result[1].dtype == w.dtype
        # elementwise gradient: bitwise, except elastic net, whose in-memory kernel itself rounds
        # an element differently (1 ulp) depending on where it falls in the array (vector body or
        # tail; reported), so chunk boundaries can move it by 1 ulp
        assert ulp_distance(result[1], expected[1]) <= (1 if name == "elastic_net_penalty" else 0)
        value = compute(getattr(fd, name)(dw, *args))[0]
        for got in (result[0], value):
            if dtype == "float64":
                assert abs(got - expected[0]) <= 2 * (w.size + 1) * 2.0**-53 * expected[0]
            else:
                assert ulp_distance(got, expected[0]) <= LOSS_ULP
        reference = _reference.penalty(w.astype(np.float64), name.split("_")[0]
                                       if name != "elastic_net_penalty" else "elastic_net", *args[:1],
                                       *(args[1:] or (0.0,)), False)[0]
        np.testing.assert_allclose(float(value), reference, rtol=1e-6 if dtype == "float32" else 1e-13)
    with pytest.raises(ValueError, match="lam"):
        fd.l2_penalty(dw, -1.0)
    with pytest.raises(ValueError, match="out"):
        fd.l2_penalty(dw, 1.0, return_grad=True, out=np.empty_like(w))


@pytest.mark.parametrize("dtype", ["float16", "int32"])
def test_other_input_dtypes_follow_the_in_memory_rules(data, dtype):
    x = data["x"].astype(dtype)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    for reduction in REDUCTIONS:
        expected = fusedloss.softmax_cross_entropy(x, data["y"], reduction=reduction, return_grad=True)
        lazy = fd.softmax_cross_entropy(dx, data["y"], reduction=reduction, return_grad=True)
        assert lazy[0].dtype == np.asarray(expected[0]).dtype and lazy[1].dtype == expected[1].dtype
        assert_matches(compute(*lazy), expected, reduction)


# ----------------------------------------------------------------------------- return_hessian


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hessians_match_the_in_memory_call(dtype, reduction):
    """The lazy Hessian (chunked like the gradient) equals the in-memory one: the same chunk
    kernels with the global factor folded into the row weights (as for the gradient)."""
    rng = np.random.default_rng(40)
    x = (rng.standard_normal((ROWS, C)) * 2).astype(dtype)
    y = rng.integers(0, C, ROWS)
    y[IGNORED] = -100
    sw = rng.uniform(0.5, 2.0, ROWS)
    weight = rng.uniform(0.5, 2.0, C)
    dx = da.from_array(x, chunks=(ROW_CHUNKS, C))
    rtol = 4 * np.finfo(dtype).eps
    cases = [
        (fd.softmax_cross_entropy, fusedloss.softmax_cross_entropy, y,
         dict(weight=weight, sample_weight=sw, z_loss=1e-3, label_smoothing=0.1, softcap=5.0)),
        (fd.softmax_cross_entropy, fusedloss.softmax_cross_entropy, y, dict(weight=weight)),
        (fd.multiclass_hinge, fusedloss.multiclass_hinge, np.abs(y) % C,
         dict(squared=True, weight=weight, sample_weight=sw)),
        (fd.cross_entropy, fusedloss.cross_entropy, np.abs(y) % C, dict(sample_weight=sw)),
    ]
    positive = np.abs(x) + np.asarray(0.1, dtype)
    for lazy, eager, labels, kwargs in cases:
        first = positive if eager is fusedloss.cross_entropy else x
        dfirst = da.from_array(first, chunks=(ROW_CHUNKS, C))
        loss, grad, hess = dask.compute(*lazy(dfirst, labels, reduction=reduction,
                                              return_hessian=True, **kwargs))
        expected = eager(first, labels, reduction=reduction, return_hessian=True, **kwargs)
        assert hess.dtype == dtype and hess.shape == x.shape
        np.testing.assert_allclose(loss, expected[0], rtol=max(rtol, LOSS_RTOL64))
        np.testing.assert_allclose(grad, expected[1], rtol=rtol, atol=rtol * np.abs(expected[1]).max())
        np.testing.assert_allclose(hess, expected[2], rtol=rtol, atol=rtol * np.abs(expected[2]).max())
    result = dask.compute(*fd.softmax_cross_entropy(dx, y, reduction=reduction, return_hessian=True,
                                                    return_argmax=True))
    assert len(result) == 4
    np.testing.assert_array_equal(result[3], np.argmax(x, axis=1))
    t = rng.random(x.shape).astype(dtype)
    loss, grad, hess = dask.compute(*fd.sigmoid_focal_loss(
        dx, t, weight=weight.astype(dtype), gamma=1.5, sample_weight=sw, reduction=reduction,
        return_hessian=True))
    expected = fusedloss.sigmoid_focal_loss(x, t, weight=weight.astype(dtype), gamma=1.5,
                                            sample_weight=sw, reduction=reduction,
                                            return_hessian=True)
    assert_matches((loss, grad, hess), expected, reduction)  # Hessian bitwise, as the gradient
    loss, grad, hess = dask.compute(*fd.sigmoid_binary_cross_entropy(
        dx, t, pos_weight=np.full(C, 2.0, dtype), sample_weight=sw, reduction=reduction,
        return_hessian=True))
    expected = fusedloss.sigmoid_binary_cross_entropy(
        x, t, pos_weight=np.full(C, 2.0, dtype), sample_weight=sw, reduction=reduction,
        return_hessian=True)
    np.testing.assert_allclose(hess, expected[2], rtol=rtol, atol=rtol * np.abs(expected[2]).max())
    value, grad, hess = dask.compute(*fd.elastic_net_penalty(dx, 0.5, 0.25, return_hessian=True))
    np.testing.assert_array_equal(hess, np.full(x.shape, 0.25, dtype))


def test_twin_declarations_match_the_registry():
    # fusedloss.dask declares each registry-made twin for type checkers (under TYPE_CHECKING):
    # the declared names must be exactly the registered elementwise and row-wise losses.
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(fd))
    declared = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            declared |= {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
            # (softmax-CE's twin: declared with overloads, narrowed by its literals)
            declared |= {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
    assert declared == set(fusedloss._regression.ELEMENTWISE_LOSSES) | set(fusedloss._classification.ROW_LOSSES)
    for name in declared:
        assert callable(getattr(fd, name)) and name in fd.__all__
