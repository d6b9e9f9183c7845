"""Thread control: threadpoolctl limits and OMP_NUM_THREADS cap fusedloss; threads= per call.

The kernels use OpenMP's default thread count when ``threads=None``. That default is what
``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` set, so both must reach the very
OpenMP runtime the extension is linked to (found at run time by ``_core.openmp_library()``).
Results never depend on the thread count: every check below also compares them bitwise.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fusedloss
from fusedloss import _core

# Large enough that the kernels split the work over two threads (>= 2 x 32768 elements).
ROWS, CLASSES = 512, 300


# Run here and in fresh processes (so it is source text, not an import of this module).
DIGEST_SOURCE = f"""
import hashlib
import numpy as np
import fusedloss

def _inputs():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal(({ROWS}, {CLASSES})).astype(np.float32)
    labels = rng.integers(0, {CLASSES}, {ROWS})
    return logits, labels

def _digest(threads=None):
    logits, labels = _inputs()
    value, grad = fusedloss.softmax_cross_entropy(logits, labels, return_grad=True, threads=threads)
    mse, mse_grad = fusedloss.mean_squared_error(logits, logits[::-1].copy(), return_grad=True, threads=threads)
    digest = hashlib.sha256()
    for array in (value, grad, mse, mse_grad):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
"""
_namespace: dict = {}
exec(DIGEST_SOURCE, _namespace)
_inputs = _namespace["_inputs"]
_digest = _namespace["_digest"]


def _run_python(code, **env):
    environment = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "FUSEDLOSS_ISA", "FUSEDLOSS_BACKEND"):
        environment.pop(name, None)
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


requires_two_threads = pytest.mark.skipif(
    _core.max_threads() < 2, reason="the OpenMP default is already 1 thread: a cap is not observable"
)


def test_threadpoolctl_sees_the_extensions_openmp_runtime():
    library = os.path.realpath(_core.openmp_library())
    assert library, "the extension is built with OpenMP, so its runtime library must be found"
    paths = {os.path.realpath(entry["filepath"]) for entry in threadpool_info() if entry["user_api"] == "openmp"}
    assert library in paths
    info = fusedloss.config()
    assert info["openmp_library"] == _core.openmp_library()
    assert info["openmp_runtime_threads"] == _core.openmp_max_threads()


@requires_two_threads
def test_threadpool_limits_caps_fusedloss():
    before = _core.max_threads()
    expected = _digest()
    with threadpool_limits(limits=1):
        assert _core.max_threads() == 1
        info = fusedloss.config()
        assert info["openmp_threads"] == 1
        assert info["openmp_runtime_threads"] == 1
        assert _digest() == expected
    assert _core.max_threads() == before


@requires_two_threads
def test_threadpool_limits_openmp_api_only():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1
    with threadpool_limits(limits=1, user_api="blas"):
        assert _core.max_threads() >= 2


def test_omp_num_threads_caps_fusedloss_in_a_fresh_process():
    code = (
        DIGEST_SOURCE + "from fusedloss import _core\n"
        "print(_core.max_threads(), fusedloss.config()['openmp_threads'], _digest(), _digest(threads=2))"
    )
    max_threads, config_threads, digest, digest_two = _run_python(code, OMP_NUM_THREADS="1")
    assert max_threads == "1" and config_threads == "1"
    assert digest == digest_two == _digest()
    # and the variable is not merely ignored: another value is taken as well
    assert _run_python(code, OMP_NUM_THREADS="3")[:2] == ["3", "3"]


def test_threads_per_call_do_not_change_the_default():
    before = _core.max_threads()
    reference = _digest()
    for threads in (1, 2, 3):
        assert _digest(threads=threads) == reference
        assert _core.max_threads() == before  # a per-call cap does not leak (no omp_set_num_threads)


@pytest.mark.parametrize("threads", [0, -1])
def test_threads_per_call_rejects_non_positive(threads):
    logits, labels = _inputs()
    with pytest.raises(ValueError, match="threads"):
        fusedloss.softmax_cross_entropy(logits, labels, threads=threads)


@pytest.mark.parametrize("threads", [1.0, "2", True])
def test_threads_per_call_rejects_non_int(threads):
    logits, labels = _inputs()
    with pytest.raises(TypeError, match="threads"):
        fusedloss.softmax_cross_entropy(logits, labels, threads=threads)
