"""The kernels' work pool: the same bits under any load, from many Python threads at once,
after fork(), and a default thread count that follows the CPU quota and the explicit settings.

The pool (csrc/runtime/work_pool.cpp) hands fixed blocks to whichever thread is running; these
tests check what that must never change: results (bitwise, whoever computed which block),
progress (no call waits forever: every test runs under a timeout) and the thread-count rules.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fusedloss
from fusedloss import _core

# Row path, small-C path, long-row path (C >= 32768: chunked, phases as claimed tasks; 3 rows
# leave a short last group), an elementwise loss.
SHAPES = [(512, 300), (8192, 10), (3, 70000), (9, 40000)]


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, shape[1], shape[0])
    labels[0] = -100  # an ignored row
    return logits, labels


def _digest(threads, shapes=SHAPES):
    digest = hashlib.sha256()
    for shape in shapes:
        logits, labels = _inputs(shape)
        for return_grad in (True, False):
            result = fusedloss.softmax_cross_entropy(logits, labels, return_grad=return_grad,
                                                     reduction="none" if not return_grad else "mean",
                                                     threads=threads)
            for part in result if isinstance(result, tuple) else (result,):
                digest.update(np.ascontiguousarray(part).tobytes())
        value, grad = fusedloss.mean_squared_error(logits, logits[::-1].copy(), return_grad=True,
                                                   threads=threads)
        digest.update(np.asarray(value).tobytes() + grad.tobytes())
    return digest.hexdigest()


@pytest.fixture
def busy_load():
    """Two busy-looping processes (the load of issue 17) for the duration of a test."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def test_results_are_bitwise_equal_under_a_busy_background_load(busy_load):
    expected = _digest(1)
    for _ in range(3):
        for threads in (None, 2, 3, 8):
            assert _digest(threads) == expected


def test_many_calls_in_a_row_reuse_the_pool_safely():
    # Back-to-back jobs of different sizes: a worker that wakes late for one call must find
    # nothing of it left and claim nothing of the next one.
    shapes = [(4096, 40), (64, 2048), (3, 70000), (20000, 4)]
    data = [_inputs(shape, seed) for seed, shape in enumerate(shapes)]
    expected = [fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=1) for x, y in data]
    for repeat in range(300):
        index = repeat % len(data)
        x, y = data[index]
        value, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=2 + repeat % 3)
        assert value.tobytes() == expected[index][0].tobytes()
        assert grad.tobytes() == expected[index][1].tobytes()


def test_concurrent_calls_from_python_threads_get_the_serial_bits():
    # Calls that each want the pool: one gets it, the others run their blocks themselves.
    shapes = [(512, 300), (3, 70000), (8192, 10), (9, 40000)]
    data = [_inputs(shape, seed) for seed, shape in enumerate(shapes)]
    expected = [fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=1) for x, y in data]
    barrier = threading.Barrier(6)

    def work(worker):
        barrier.wait()
        for repeat in range(25):
            index = (worker + repeat) % len(data)
            x, y = data[index]
            value, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True,
                                                          threads=None if repeat % 2 else 2)
            assert value.tobytes() == expected[index][0].tobytes()
            assert grad.tobytes() == expected[index][1].tobytes()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))


def _fork_and_run(function, timeout=60):
    """function() in a forked child; returns what it printed (bytes), fails on a hang."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads: that is what is tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, function().encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the forked child hung")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_threaded_call_works_in_a_forked_child():
    expected = _digest(1)
    assert _digest(2) == expected  # the parent's pool has workers now
    assert _core.pool_workers() >= 1

    def child():
        workers_before = _core.pool_workers()  # the parent's workers do not exist here
        digest = _digest(2)
        return f"{workers_before} {_core.pool_workers()} {digest}"

    before, after, digest = _fork_and_run(child).split()
    assert before == "0" and int(after) >= 1
    assert digest == expected
    # and the parent's pool still works
    assert _digest(2) == expected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_fork_while_another_thread_is_inside_a_call():
    x, y = _inputs((3, 70000))
    expected = fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=1)[1].tobytes()
    stop = threading.Event()

    def keep_calling():
        while not stop.is_set():
            fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=2)

    thread = threading.Thread(target=keep_calling)
    thread.start()
    try:
        for _ in range(5):
            digest = _fork_and_run(lambda: hashlib.sha256(
                fusedloss.softmax_cross_entropy(x, y, return_grad=True, threads=2)[1].tobytes()).hexdigest())
            assert digest == hashlib.sha256(expected).hexdigest()
    finally:
        stop.set()
        thread.join()


def test_default_threads_follow_the_cpu_limit():
    before = _core.cpu_limit()
    try:
        _core.set_cpu_limit(1)
        assert _core.max_threads() == 1
        assert fusedloss.config()["threads"] == 1
        _core.set_cpu_limit(0)
        assert _core.max_threads() == min(_core.openmp_max_threads(), _core.affinity_cpu_count() or 10**6)
    finally:
        _core.set_cpu_limit(before)


def _run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "FUSEDLOSS_CGROUP_ROOT")}
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _fake_quota_tree(root, quota):
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text("0::/job\n")
    (root / "sys" / "fs" / "cgroup" / "job").mkdir(parents=True)
    (root / "sys" / "fs" / "cgroup" / "cgroup.controllers").write_text("cpu memory\n")
    (root / "sys" / "fs" / "cgroup" / "job" / "cpu.max").write_text(quota)


def test_a_cgroup_quota_caps_threads_none_in_a_fresh_process(tmp_path):
    _fake_quota_tree(tmp_path, "100000 100000\n")  # one CPU
    code = ("import fusedloss; from fusedloss import _core; "
            "print(_core.cpu_limit(), _core.max_threads(), fusedloss.config()['cpu_quota'])")
    assert _run_python(code, FUSEDLOSS_CGROUP_ROOT=str(tmp_path)) == ["1", "1", "1"]
    # OMP_NUM_THREADS is the user's explicit choice: it is taken as it is
    assert _run_python(code, FUSEDLOSS_CGROUP_ROOT=str(tmp_path), OMP_NUM_THREADS="3")[:2] == ["1", "3"]


def test_threadpool_limits_still_cap_the_default():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1
        assert _digest(None) == _digest(1)


def test_no_idle_cpu_means_no_worker_is_woken(busy_load):
    # With every CPU busy the call runs on the calling thread alone (the 1-thread time, not a
    # wait for a worker that must first preempt someone); the bits are the same.
    if _core.affinity_cpu_count() > 2 or not os.path.exists("/proc/loadavg"):
        pytest.skip("needs a machine with at most 2 CPUs (the load is 2 busy processes) and /proc/loadavg")
    expected = _digest(1)
    code = ("import time; from test_work_pool import _digest; from fusedloss import _core; "
            "time.sleep(0.2); print(_core.wake_when_busy(), _digest(2), _core.pool_workers())")
    environment = {k: v for k, v in os.environ.items() if k != "FUSEDLOSS_WAKE_BUSY"}
    environment["PYTHONPATH"] = os.path.dirname(__file__) + os.pathsep + environment.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", expected, "0"]
