"""``fusedloss bench --loss linear_cross_entropy``: the fused linear head + softmax CE against
the ways to get the same loss and three gradients today, with time and peak-memory columns.

Contenders (float32 by default, loss + ``d_input`` + ``d_linear_weight``, ``reduction="mean"``,
no bias), all fed the same arrays:

* ``fusedloss``: :func:`fusedloss.linear_cross_entropy` (``threads=t``);
* ``numpy+fusedloss``: what a user can write today: ``logits = x @ W.T`` (NumPy's BLAS),
  in-place ``softmax_cross_entropy(logits, y, out=logits)``, ``G @ W`` and ``G.T @ x``;
* ``floor``: the three GEMMs alone (``x @ W.T``, ``L @ W``, ``L.T @ x``), the time no
  implementation of the full step can beat with this BLAS;
* ``torch``: ``F.linear`` + ``F.cross_entropy`` + ``backward()`` (materialising), and
  ``torch fused``: ``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions())`` +
  ``backward()`` (PyTorch's chunked path) where it exists; ``torch.set_num_threads(t)``.

NumPy's BLAS (and with it the two NumPy contenders) runs with ``t`` threads through
threadpoolctl. Contenders are interleaved (one call of each per round, after a warm-up call)
and the median is reported. Peak memory is measured in one separate call of each: the bytes
NumPy allocates above what was held before (tracemalloc, exact) for the NumPy contenders, and
the growth of the resident set sampled every millisecond for PyTorch (tracemalloc does not see
its allocator); both include the returned gradients.
"""

from __future__ import annotations

import statistics
import threading
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

Shape3 = Tuple[int, int, int]

#: (N tokens, D features, V classes): issue 19's shapes (logits 250-256 MiB in float32).
SHAPES: List[Shape3] = [(2048, 512, 32000), (512, 1024, 128000), (8192, 256, 8192)]
NAME = "linear_cross_entropy"


def scaled(shape: Shape3, scale: float) -> Shape3:
    """``shape`` with N and V multiplied by ``scale`` (D kept): fast runs for tests."""
    n, d, v = shape
    return (max(1, int(round(n * scale))), d, max(2, int(round(v * scale))))


def _inputs(shape: Shape3, dtype: np.dtype, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d, v = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
    w = (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(dtype, copy=False)
    y = rng.integers(0, v, n)
    return x, w, y


def _blas_limit(threads: int) -> Any:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return threadpool_limits(limits=threads, user_api="blas")


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def peak_numpy_bytes(call: Callable[[], Any]) -> int:
    """Peak bytes NumPy (and Python) allocated during ``call`` above what was held before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    del result
    return int(peak)


def peak_resident_bytes(call: Callable[[], Any]) -> int:
    """Peak growth of the resident set during ``call``, sampled every millisecond."""
    before = _resident_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = call()
        peak[0] = max(peak[0], _resident_bytes())
    finally:
        done.set()
        sampler.join()
    del result
    return max(0, peak[0] - before)


def contenders(shape: Shape3, dtype: np.dtype, threads: int, torch: Any
               ) -> Tuple[Dict[str, Callable[[], Any]], Dict[str, str]]:
    """The calls to time at one shape and thread count, and how each one's memory is measured."""
    import fusedloss

    x, w, y = _inputs(shape, dtype)
    calls: Dict[str, Callable[[], Any]] = {}
    memory: Dict[str, str] = {}

    def fused() -> Any:
        return fusedloss.linear_cross_entropy(x, w, y, return_grad=True, threads=threads)

    def today() -> Any:
        with _blas_limit(threads):
            logits = np.matmul(x, w.T)
            loss, grad = fusedloss.softmax_cross_entropy(logits, y, return_grad=True, out=logits,
                                                         threads=threads)
            return loss, grad @ w, grad.T @ x

    def floor() -> Any:
        with _blas_limit(threads):
            logits = np.matmul(x, w.T)
            return logits @ w, logits.T @ x

    calls["fusedloss"] = fused
    calls["numpy+fusedloss"] = today
    calls["floor"] = floor
    memory.update({name: "tracemalloc" for name in calls})
    if torch is not None:
        F = torch.nn.functional
        xt = torch.from_numpy(x)
        wt = torch.from_numpy(w)
        yt = torch.from_numpy(y)

        def torch_materialising() -> Any:
            torch.set_num_threads(threads)
            xg = xt.detach().requires_grad_(True)
            wg = wt.detach().requires_grad_(True)
            loss = F.cross_entropy(F.linear(xg, wg), yt)
            loss.backward()
            return loss.item(), xg.grad, wg.grad

        calls["torch"] = torch_materialising
        memory["torch"] = "rss"
        if hasattr(F, "linear_cross_entropy") and hasattr(torch.nn, "LinearCrossEntropyOptions"):
            options = torch.nn.LinearCrossEntropyOptions()

            def torch_fused() -> Any:
                torch.set_num_threads(threads)
                xg = xt.detach().requires_grad_(True)
                wg = wt.detach().requires_grad_(True)
                loss = F.linear_cross_entropy(xg, wg, yt, options=options)
                loss.backward()
                return loss.item(), xg.grad, wg.grad

            calls["torch fused"] = torch_fused
            memory["torch fused"] = "rss"
    return calls, memory


def check(shape: Shape3, dtype: np.dtype) -> None:
    """fusedloss's loss and gradients against the materialised float64 computation."""
    import fusedloss

    x, w, y = _inputs(shape, dtype)
    loss, (dx, dw, _) = fusedloss.linear_cross_entropy(x, w, y, return_grad=True)
    logits = x.astype(np.float64) @ w.astype(np.float64).T
    ref, grad = fusedloss.softmax_cross_entropy(logits, y, return_grad=True)
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert abs(float(loss) - float(ref)) <= tol * abs(float(ref)), (loss, ref)
    expected = grad.T @ x.astype(np.float64)
    assert np.abs(dw - expected).max() <= tol * np.abs(expected).max(), "d_linear_weight differs"
    expected = grad @ w.astype(np.float64)
    assert np.abs(dx - expected).max() <= tol * np.abs(expected).max(), "d_input differs"


def run(shapes: Sequence[Shape3], threads: Sequence[int], repeats: int = 3, dtype: Any = np.float32,
        peers: bool = True, progress: Optional[Callable[[str], None]] = None,
        notes: Optional[List[str]] = None, raw: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """One row per (shape, threads): median ms of each contender, its ratio to the GEMM floor,
    and (at the first thread count) its peak extra memory in MiB."""
    dtype = np.dtype(dtype)
    notes = notes if notes is not None else []
    raw = raw if raw is not None else []
    torch = None
    if peers:
        try:
            import torch as torch_module  # type: ignore[import-untyped,import-not-found,unused-ignore]

            torch = torch_module
        except ImportError:
            notes.append("torch not importable: no PyTorch columns")
        notes.append("JAX is not timed for linear_cross_entropy")
    rows: List[Dict[str, Any]] = []
    for index, shape in enumerate(shapes):
        if progress is not None:
            progress(f"[{index + 1}/{len(shapes)}] {NAME} {'x'.join(map(str, shape))} {dtype.name}")
        check(shape, dtype)
        per_thread = {t: contenders(shape, dtype, t, torch) for t in threads}
        peak: Dict[str, float] = {}
        calls, memory = per_thread[threads[0]]
        for name, call in calls.items():
            call()  # warm-up (and the first-touch page faults of its allocations)
            measure = peak_numpy_bytes if memory[name] == "tracemalloc" else peak_resident_bytes
            peak[name] = measure(call) / 2**20
        times: Dict[Tuple[int, str], List[float]] = {}
        for t in threads:
            for name, call in per_thread[t][0].items():
                if t != threads[0]:
                    call()
                times[(t, name)] = []
        for _ in range(max(1, repeats)):
            for t in threads:  # interleaved: one call of each contender per round
                for name, call in per_thread[t][0].items():
                    start = time.perf_counter()
                    call()
                    times[(t, name)].append(time.perf_counter() - start)
        n, d, v = shape
        logits_mib = n * v * dtype.itemsize / 2**20
        for t in threads:
            medians = {name: statistics.median(times[(t, name)]) * 1e3 for name in per_thread[t][0]}
            for name in per_thread[t][0]:
                raw.append({"loss": NAME, "shape": list(shape), "threads": t, "contender": name,
                            "times_s": times[(t, name)]})
            rows.append({"loss": NAME, "shape": list(shape), "dtype": dtype.name, "threads": t,
                         "logits_mib": logits_mib, "ms": medians,
                         "ratio_to_floor": {k: m / medians["floor"] for k, m in medians.items()},
                         "peak_mib": peak if t == threads[0] else {}})
    notes.append("peak MiB: extra memory of one call incl. the returned gradients, at the first "
                 "thread count (NumPy contenders: tracemalloc; PyTorch: resident-set growth "
                 "sampled every ms)")
    return rows


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    names: List[str] = []
    for row in rows:
        for name in row["ms"]:
            if name not in names:
                names.append(name)
    header = ["(N, D, V)", "logits MiB", "thr"] + names
    body = []
    for row in rows:
        cells = ["x".join(map(str, row["shape"])), f"{row['logits_mib']:.0f}", str(row["threads"])]
        for name in names:
            if name not in row["ms"]:
                cells.append("-")
                continue
            text = f"{row['ms'][name]:.0f} ({row['ratio_to_floor'][name]:.2f})"
            if name in row["peak_mib"]:
                text += f", {row['peak_mib'][name]:.0f} MiB"
            cells.append(text)
        body.append(cells)
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "ms (ratio to the three-GEMM floor), peak extra MiB\n" + "\n".join(lines)


__all__ = ["SHAPES", "format_table", "run", "scaled"]
