"""Benchmarks of fusedloss.dask: softmax-CE loss+grad over a Dask array of several chunks.

Group ``dask-sce-{rows}x{C}-float32``: the in-memory call on the whole array, the Dask version
on the threaded scheduler for a few chunk sizes, and on a two-process ``LocalCluster``. The
Dask cases *persist* loss and gradient (the gradient stays chunked where it was computed, as a
training step would use it), so the timing is the kernels plus Dask's per-chunk overhead, not
a final concatenation. Each case checks its result against the in-memory one (gradient bitwise,
loss within 1 ulp), also under ``--benchmark-disable``.

Throughput table (rows/s, per-chunk overhead, recommended chunk size)::

    python bench/test_bench_dask.py            # prints the table (about 30 s)
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fusedloss  # noqa: E402
import fusedloss.dask as fd  # noqa: E402

ROWS = 1 << 18
CLASSES = 64
CHUNK_ROWS = (8192, 32768, 131072)
GROUP = f"dask-sce-{ROWS}x{CLASSES}-float32"


def make_data(rows: int = ROWS, classes: int = CLASSES, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, classes), dtype=np.float32) * 2
    y = rng.integers(0, classes, rows)
    return x, y


def in_memory(x: np.ndarray, y: np.ndarray):
    return fusedloss.softmax_cross_entropy(x, y, return_grad=True)


def dask_step(dx: "da.Array", dy: "da.Array", persist, threads: Optional[int] = 1):
    loss, grad = fd.softmax_cross_entropy(dx, dy, return_grad=True, threads=threads)
    return persist(loss, grad)


def check(result, expected) -> None:
    loss, grad = result
    loss = np.asarray(loss.compute() if hasattr(loss, "compute") else loss)
    grad = grad.compute() if hasattr(grad, "compute") else grad
    ref_loss, ref_grad = expected
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    assert abs(int(loss.view(np.int32)) - int(np.asarray(ref_loss).view(np.int32))) <= 1
    assert np.array_equal(grad.view(np.int32), ref_grad.view(np.int32))


def _wait(collections) -> None:
    futures = [f for c in collections for f in distributed.futures_of(c)]
    with futures[0].client.as_current():
        distributed.wait(futures)


@pytest.fixture(scope="module")
def data():
    x, y = make_data()
    return x, y, in_memory(x, y)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.mark.benchmark(group=GROUP)
def test_in_memory(benchmark, data):
    x, y, expected = data
    check(benchmark(in_memory, x, y), expected)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("chunk_rows", CHUNK_ROWS)
def test_dask_threads(benchmark, data, chunk_rows):
    x, y, expected = data
    dx = da.from_array(x, chunks=(chunk_rows, CLASSES))
    dy = da.from_array(y, chunks=chunk_rows)
    result = benchmark(dask_step, dx, dy, lambda *a: dask.persist(*a, scheduler="threads"))
    check(result, expected)


@pytest.mark.benchmark(group=GROUP)
# the one-time upload of the 64 MiB test array to the workers (outside the timing)
@pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning")
def test_dask_local_cluster(benchmark, data, client):
    x, y, expected = data
    chunk_rows = CHUNK_ROWS[1]
    dx = client.persist(da.from_array(x, chunks=(chunk_rows, CLASSES)))  # data lives on the workers
    dy = client.persist(da.from_array(y, chunks=chunk_rows))
    _wait([dx, dy])

    def persist(*objects):
        persisted = client.persist(list(objects))
        _wait(persisted)
        return persisted

    result = benchmark(dask_step, dx, dy, persist)
    check([client.compute(r).result() for r in result], expected)


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(rows: int = ROWS, classes: int = CLASSES, repeats: int = 5) -> List[Dict[str, Any]]:
    """Throughput of loss+grad (rows/s), in memory vs Dask (threads, LocalCluster); prints a table."""
    x, y = make_data(rows, classes)
    table: List[Dict[str, Any]] = []
    base = _best(lambda: in_memory(x, y), repeats)
    table.append({"case": "in-memory fusedloss", "chunks": 1, "seconds": base})
    for chunk_rows in (2048, 8192, 32768, 131072, rows):
        dx = da.from_array(x, chunks=(chunk_rows, classes))
        dy = da.from_array(y, chunks=chunk_rows)
        for threads in (1, None):
            seconds = _best(lambda: dask_step(dx, dy, lambda *a: dask.persist(*a, scheduler="threads"),
                                              threads), repeats)
            table.append({"case": f"dask threads, chunk {chunk_rows}, kernel threads={threads}",
                          "chunks": dx.numblocks[0], "seconds": seconds})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        for chunk_rows in (8192, 32768, 131072):
            dx = client.persist(da.from_array(x, chunks=(chunk_rows, classes)))
            dy = client.persist(da.from_array(y, chunks=chunk_rows))
            _wait([dx, dy])

            def run():
                persisted = client.persist(list(fd.softmax_cross_entropy(dx, dy, return_grad=True, threads=1)))
                _wait(persisted)

            table.append({"case": f"LocalCluster 2x1, chunk {chunk_rows}", "chunks": dx.numblocks[0],
                          "seconds": _best(run, repeats)})
    for row in table:
        row["rows_per_s"] = rows / row["seconds"]
    print(f"softmax-CE loss+grad, {rows} x {classes} float32, best of {repeats}")
    print(f"{'case':52s} {'chunks':>6s} {'ms':>9s} {'Mrows/s':>8s}")
    for row in table:
        print(f"{row['case']:52s} {row['chunks']:6d} {row['seconds'] * 1e3:9.2f} {row['rows_per_s'] / 1e6:8.2f}")
    # per-chunk overhead: slope of time against the number of chunks (threads=1 cases)
    points = [(r["chunks"], r["seconds"]) for r in table if r["case"].startswith("dask threads")
              and r["case"].endswith("threads=1")]
    n = np.array([p[0] for p in points], float)
    t = np.array([p[1] for p in points], float)
    slope, intercept = np.polyfit(n, t, 1)
    print(f"threaded scheduler: ~{slope * 1e3:.3f} ms per chunk overhead (fit over chunk counts {n.astype(int).tolist()}),"
          f" {intercept * 1e3:.2f} ms fixed")
    return table


if __name__ == "__main__":
    report()
