"""Concurrency: many Python threads calling at once get bitwise the serial answers, and the
kernels release the GIL (two threads with threads=1 run in parallel)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fusedloss
from test_input_matrix import NAMES, data_for, native

THREADS = 8


def _bytes(result):
    return tuple(np.asarray(part).tobytes() for part in result)


@pytest.mark.parametrize("name", NAMES)
def test_many_threads_get_the_serial_answer(name):
    inputs = [data_for(name, (64 + 7 * i, 33), seed=i) for i in range(THREADS)]
    options = [dict(threads=None), dict(threads=1), dict(threads=2)]
    serial = {(i, j): _bytes(native(name, x, **options[j]))
              for i, x in enumerate(inputs) for j in range(len(options))}
    barrier = threading.Barrier(THREADS)

    def work(i):
        barrier.wait()  # start together
        results = []
        for repeat in range(20):
            j = (i + repeat) % len(options)
            results.append(((i, j), _bytes(native(name, inputs[i], **options[j]))))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        for results in pool.map(work, range(THREADS)):
            for key, result in results:
                assert result == serial[key]


def test_threads_share_one_input_and_write_their_own_out():
    x = data_for("softmax_cross_entropy", (256, 100))
    labels = np.arange(256) % 100
    expected = fusedloss.softmax_cross_entropy(x, labels, return_grad=True)
    outs = [np.empty_like(x) for _ in range(THREADS)]

    def work(i):
        for _ in range(10):
            loss, grad = fusedloss.softmax_cross_entropy(x, labels, return_grad=True, out=outs[i])
            assert grad is outs[i]
            assert loss.tobytes() == expected[0].tobytes()
            assert grad.tobytes() == expected[1].tobytes()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))


def test_concurrent_errors_do_not_disturb_good_calls():
    x = data_for("multiclass_hinge", (100, 10))
    good = np.arange(100) % 10
    bad = good.copy()
    bad[57] = 10
    expected = fusedloss.multiclass_hinge(x, good, return_grad=True)

    def work(i):
        for _ in range(30):
            if i % 2:
                with pytest.raises(ValueError, match=r"label 10 at row 57"):
                    fusedloss.multiclass_hinge(x, bad, return_grad=True)
            else:
                result = fusedloss.multiclass_hinge(x, good, return_grad=True)
                assert _bytes(result) == _bytes(expected)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))


def test_gil_is_released():
    """While one thread is inside a long kernel call, another thread keeps running Python code.

    Not a timing comparison: the main thread records a timestamp per loop iteration while the
    worker is inside the call. Were the GIL held for the call, no Python bytecode could run in
    the middle of it and no timestamp could fall there; released, the main thread keeps running
    (on another core, or time-sliced on one)."""
    x = np.random.default_rng(0).standard_normal((4000, 4096)).astype(np.float32)
    labels = np.arange(4000) % 4096
    window = {}

    def call():
        window["start"] = time.perf_counter()
        fusedloss.softmax_cross_entropy(x, labels, return_grad=True, threads=1)
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=call)
    stamps = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = window["start"], window["end"]
    middle = (start + 0.25 * (end - start), end - 0.25 * (end - start))
    inside = sum(middle[0] < t < middle[1] for t in stamps)
    assert inside > 10, (inside, end - start)
