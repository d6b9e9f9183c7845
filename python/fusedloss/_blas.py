"""NumPy's own BLAS, for the one GEMM NumPy cannot express: ``C += A @ B`` in place.

``linear_cross_entropy`` accumulates ``d_linear_weight += G.T @ x_chunk`` over token chunks.
``np.matmul(..., out=)`` only overwrites, so accumulating through it costs a (V, D) temporary
and an extra read-modify-write pass over ``d_linear_weight`` per chunk. The BLAS NumPy links
(the ``scipy-openblas`` build NumPy's wheels ship, found with threadpoolctl's method: the
loaded shared library whose name says openblas) has ``cblas_?gemm`` with ``beta = 1``, which
adds in place with no temporary. Calling *that* library (not SciPy's second OpenBLAS copy)
keeps one BLAS thread pool, the one ``threadpoolctl`` limits for NumPy.

When no such library is found (another BLAS, an unusual build) ``gemm_accumulate`` falls back
to ``np.matmul`` into a bounded temporary plus an add, block by block: same result within
rounding, slower. ``describe()`` says which path runs.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Any, List, Optional, Tuple

import numpy as np

_ROW_MAJOR = 101
_NO_TRANS = 111
_TRANS = 112

# (library path, sgemm, dgemm, 64-bit integers) or None; resolved on first use
_resolved: Optional[Tuple[str, Any, Any, bool]] = None
_searched = False
_library: Any = None


def _candidate_libraries() -> List[str]:
    """OpenBLAS builds shipped inside NumPy's wheel (numpy.libs / numpy/.dylibs)."""
    root = os.path.dirname(np.__file__)
    patterns = [
        os.path.join(root + ".libs", "*openblas*"),
        os.path.join(root, ".dylibs", "*openblas*"),
        os.path.join(root + ".libs", "*blas*"),
    ]
    found: List[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if path not in found:
                found.append(path)
    return found


def _resolve() -> Optional[Tuple[str, Any, Any, bool]]:
    global _resolved, _searched, _library
    if _searched:
        return _resolved
    _searched = True
    if os.environ.get("FUSEDLOSS_BLAS_ACCUMULATE", "").strip().lower() == "matmul":
        return None  # forced fallback (tests, comparisons)
    for path in _candidate_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        # scipy-openblas64 (NumPy >= 2 wheels): ILP64 with a prefix and suffix;
        # scipy-openblas32 and plain OpenBLAS: LP64
        for single, double, ilp64 in (
            ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
            ("cblas_sgemm64_", "cblas_dgemm64_", True),
            ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
            ("cblas_sgemm", "cblas_dgemm", False),
        ):
            sgemm = getattr(library, single, None)
            dgemm = getattr(library, double, None)
            if sgemm is not None and dgemm is not None:
                integer = ctypes.c_int64 if ilp64 else ctypes.c_int
                for function, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
                    function.restype = None
                    function.argtypes = [
                        ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer,
                        real, ctypes.c_void_p, integer, ctypes.c_void_p, integer,
                        real, ctypes.c_void_p, integer,
                    ]
                _resolved = (path, sgemm, dgemm, ilp64)
                _library = library
                return _resolved
    return None


def describe() -> str:
    """Which GEMM accumulates: the cblas library's path, or the np.matmul fallback."""
    found = _resolve()
    if found is None:
        return "np.matmul + add (no cblas found in NumPy's wheel)"
    return f"cblas ?gemm beta=1 from {os.path.basename(found[0])}"


def _operand(array: np.ndarray) -> Tuple[bool, int]:
    """(transposed?, leading dimension) of a 2-d operand whose rows or columns are contiguous."""
    itemsize = array.itemsize
    rows, columns = array.shape
    if array.strides[1] == itemsize and array.strides[0] % itemsize == 0 and array.strides[0] >= max(columns, 1) * itemsize:
        return False, max(array.strides[0] // itemsize, 1)
    if array.strides[0] == itemsize and array.strides[1] % itemsize == 0 and array.strides[1] >= max(rows, 1) * itemsize:
        return True, max(array.strides[1] // itemsize, 1)
    raise ValueError("operand layout")


def gemm(first: np.ndarray, second: np.ndarray, target: np.ndarray, beta: float = 1.0,
         scratch_bytes: int = 8 << 20) -> None:
    """``target = first @ second + beta * target`` (2-d arrays of one dtype; ``target``'s rows
    contiguous, any row stride; ``beta`` 0 or 1). One BLAS call on the calling thread."""
    found = _resolve()
    rows, inner = first.shape
    columns = second.shape[1]
    if rows == 0 or columns == 0:
        return
    if inner == 0:
        if beta == 0.0:
            target[...] = 0
        return
    itemsize = target.itemsize
    if (found is not None and first.dtype == second.dtype == target.dtype
            and target.dtype in (np.float32, np.float64)
            and (columns == 1 or target.strides[1] == itemsize)
            and target.strides[0] % itemsize == 0 and target.strides[0] >= columns * itemsize):
        try:
            first_t, lda = _operand(first)
            second_t, ldb = _operand(second)
        except ValueError:
            pass
        else:
            function = found[1] if target.dtype == np.float32 else found[2]
            function(_ROW_MAJOR, _TRANS if first_t else _NO_TRANS, _TRANS if second_t else _NO_TRANS,
                     rows, columns, inner, 1.0, first.ctypes.data, lda, second.ctypes.data, ldb,
                     beta, target.ctypes.data, max(target.strides[0] // itemsize, columns))
            return
    # fallback: np.matmul, with bounded temporaries when accumulating
    if beta == 0.0:
        np.matmul(first, second, out=target)
        return
    step = max(1, scratch_bytes // max(1, columns * itemsize))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        target[start:stop] += np.matmul(first[start:stop], second)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved: Any = None


def _set_threads(count: Optional[int]) -> Any:
    """Set NumPy's BLAS thread count; return what restores it (direct symbols, else threadpoolctl)."""
    found = _resolve()
    if found is not None:
        library = _library
        getter = getattr(library, "scipy_openblas_get_num_threads64_", None) or getattr(
            library, "openblas_get_num_threads", None)
        setter = getattr(library, "scipy_openblas_set_num_threads64_", None) or getattr(
            library, "openblas_set_num_threads", None)
        if getter is not None and setter is not None:
            previous = int(getter())
            setter(ctypes.c_int(count if count is not None else previous))
            return ("direct", setter, previous)
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    return ("threadpoolctl", threadpool_limits(limits=count, user_api="blas"), None)


def _restore(saved: Any) -> None:
    if saved is None:
        return
    if saved[0] == "direct":
        saved[1](ctypes.c_int(saved[2]))
    else:
        saved[1].restore_original_limits()


class single_threaded:
    """Within it, NumPy's BLAS runs on one thread (for every thread of the process: the BLAS
    setting is global; nested and concurrent uses are counted, the last one out restores it).
    Each BLAS call then sums in an order that depends on its operands only: the callers
    parallelise over fixed blocks themselves (bitwise identical results for any thread count)."""

    def __enter__(self) -> None:
        global _threads_users, _threads_saved
        with _threads_lock:
            if _threads_users == 0:
                _threads_saved = _set_threads(1)
            _threads_users += 1

    def __exit__(self, *exc: Any) -> None:
        global _threads_users, _threads_saved
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                _restore(_threads_saved)
                _threads_saved = None
