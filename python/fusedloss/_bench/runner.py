"""Timing of the fused kernels against NumPy, PyTorch, JAX and a copy of the same bytes
(the implementation of ``fusedloss bench``; its cases are in :mod:`fusedloss._bench.cases`).

Benchmark tooling, not library: ``import fusedloss`` never imports this package; the
``fusedloss`` command imports it when it runs ``bench``.

Every case computes the loss *and* its gradient (``return_grad=True``, ``reduction="mean"``).
Contenders of a case, all fed the same input arrays:

* ``fusedloss``: the public API on the compiled kernels, writing its gradient into a reused
  buffer (``out=``, as a training loop would), one entry per thread count asked for;
* ``numpy``: :mod:`fusedloss._reference`, the float64 NumPy code you would write by hand;
* ``torch``: PyTorch CPU forward+backward (``F.cross_entropy``, ``F.multi_margin_loss``,
  ``F.binary_cross_entropy_with_logits``; an elementwise loss's ``entry.torch`` per-element
  loss, then ``.mean()``) with ``torch.set_num_threads`` matched to the fusedloss entry, when
  torch is importable and the loss has an equivalent;
* ``jax``: jitted ``value_and_grad`` of the optax loss (or its ``jax.numpy`` formula, see
  :func:`fusedloss._bench.jax_peer.loss_function`), when jax and optax are installed,
  run in a worker process per thread count whose XLA CPU thread pools are sized to that count
  (``PJRT_NPROC``; see :mod:`fusedloss._bench.jax_peer`: XLA's threads cannot change within a
  process); its inputs are rebuilt there from the same seed (CRC-32 checked), and each timed
  call is timed in the worker;
* ``copy``: ``_core.parallel_copy`` of the first argument on the same threads, the bandwidth
  floor of a one-pass kernel; ``copyto``: ``np.copyto`` of the same bytes (single-threaded).

The contenders are interleaved (one call of each per round, after one warm-up call each) and
the median over the rounds is reported, so that the noise of a shared machine hits them alike;
each timed call waits first (:func:`settle`, at most 50 ms) until the threads of the call
before it have stopped running (PyTorch's spin for ~9 ms after each call, and took a CPU from
fusedloss's two-thread calls);
the JAX workers take part in the same rounds, one call per round on request over a pipe (the
round trip is outside the time measured). fusedloss's result is checked against the float64
reference before anything is timed, and each peer's result against fusedloss's (PyTorch's
``multi_margin_loss`` divides by C: compared after that scaling; optax's
``multiclass_hinge_loss`` is the Crammer-Singer hinge, not Weston-Watkins: compared with a
float64 NumPy Crammer-Singer reference); a peer that differs gets a note and no figure.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _backend, _foreign
from . import jax_peer as _jax_peer
from .cases import (  # noqa: F401 (re-exported: the CLI, the tests and bench/ import them from here)
    BENCH_DTYPES, LARGE_SHAPES, LOSSES, OPTION_SHAPES, OPTIONS, SHAPE_KINDS, SHAPES, Case, Shape, bench_dtype, check_case,
    check_result, elementwise_entry, fused_call, make_case, make_inputs, reference_call, row_entry, shape_fits,
)

#: Arrays of this size or more are "large": checked on a prefix of rows, no NumPy timing.
LARGE_BYTES = 256 * 2**20
PEERS: Tuple[str, ...] = ("numpy", "torch", "jax")
#: Rounds of the NumPy reference (10x-100x slower than the rest; the check already warmed it).
NUMPY_ROUNDS = 3
#: Rounds of PyTorch and JAX on the 1 GiB shapes (seconds per call there).
LARGE_PEER_ROUNDS = 2
#: The command line of the JAX workers; ``None``: ``python -m fusedloss._bench.jax_peer``
#: (see :func:`fusedloss._bench.jax_peer.worker_command`). The tests point it at broken workers.
JAX_PEER_COMMAND: Optional[List[str]] = None
#: Bytes of each JAX worker per byte of the first input on the 1 GiB shapes (its own inputs,
#: its gradient, XLA's temporaries).
JAX_WORKER_COPIES = 4
#: A JAX worker whose CPU time over wall time during its timed calls exceeds its thread count
#: by this factor gets a note (it used more cores than asked for).
JAX_CORES_SLACK = 1.15
#: Tolerance of the peers' results against fusedloss's (see :func:`check_peer`).
# (bfloat16/float16: PyTorch's 16-bit kernels round intermediate results to 16 bits too.)
PEER_RTOL = {"float32": 1e-3, "float64": 1e-8, "bfloat16": 3e-2, "float16": 1e-2}

# --------------------------------------------------------------------------- peers


def _import_torch() -> Any:
    try:
        import torch  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except Exception:  # any import failure means: no peer
        return None
    return torch


def _jax_available() -> bool:
    """Whether jax and optax are installed (they are imported in the worker processes only)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))
    except (ImportError, ValueError):
        return False


def as_tensor(torch: Any, array: np.ndarray) -> Any:
    """A PyTorch tensor over ``array``'s memory (bfloat16, which torch.from_numpy does not
    take, through DLPack)."""
    if array.dtype.kind == "V":  # ml_dtypes.bfloat16
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def as_array(tensor: Any) -> np.ndarray:
    """A NumPy array over a CPU tensor's memory, bfloat16 included."""
    return _foreign.from_dlpack(tensor.detach(), "tensor")


def torch_call(torch: Any, case: Case) -> Optional[Callable[[], Any]]:
    """A forward+backward closure of the PyTorch CPU equivalent of the plain ``case``."""
    functional = torch.nn.functional
    x = as_tensor(torch, case.x)
    loss = case.loss
    fn: Callable[[Any], Any]
    # An elementwise loss: the per-element loss of its registry entry (``entry.torch``), then
    # ``.mean()``; none where the entry names no PyTorch equivalent.
    if loss in ("softmax_cross_entropy", "multiclass_hinge", "cross_entropy"):
        y = as_tensor(torch, case.y)
        if loss == "softmax_cross_entropy":
            fn = lambda t: functional.cross_entropy(t, y)  # noqa: E731
        elif loss == "multiclass_hinge":
            fn = lambda t: functional.multi_margin_loss(t, y)  # noqa: E731
        else:
            fn = lambda t: functional.nll_loss(torch.log(t + 1e-7), y)  # noqa: E731
    elif (entry := elementwise_entry(loss) or row_entry(loss)) is not None:
        # A loss of a registry: its entry's per-element (or per-row) PyTorch formula, then
        # .mean() (the "mean" of an unweighted call); none where the entry names no equivalent.
        if entry.torch is None:
            return None
        second = as_tensor(torch, case.y)
        formula, parameters = entry.torch, entry.defaults()
        fn = lambda t: formula(functional, t, second, *parameters).mean()  # noqa: E731
    else:
        return None

    def run() -> Any:
        leaf = x.detach().requires_grad_(True)
        value = fn(leaf)
        value.backward()
        return value, leaf.grad

    return run


# --------------------------------------------------------------------------- timing


def median_times(contenders: Mapping[str, Callable[[], Any]], repeats: int,
                 rounds: Optional[Dict[str, int]] = None, warm: Sequence[str] = (),
                 self_timed: Sequence[str] = ()) -> Dict[str, List[float]]:
    """Seconds of each call of each contender: one warm-up call each (except those named in
    ``warm``, already run), then ``repeats`` rounds in which every contender runs once
    (interleaved, so that noise hits them alike). ``rounds`` caps the rounds of some contenders
    (the slow NumPy reference: its noise hardly moves a 10x-100x ratio). The contenders named
    in ``self_timed`` return the seconds of their call themselves (the JAX workers, which time
    the call in their own process); a NaN from one of them drops its figures."""
    rounds = rounds or {}
    for name, fn in contenders.items():
        if name not in warm:
            fn()
    times: Dict[str, List[float]] = {name: [] for name in contenders}
    for index in range(max(1, repeats)):
        for name, fn in contenders.items():
            if index >= rounds.get(name, repeats):
                continue
            settle()
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            times[name].append(float(result) if name in self_timed else elapsed)
    for name in self_timed:
        if name in times and any(v != v for v in times[name]):
            del times[name]
    return times


#: The longest :func:`settle` waits (seconds).
SETTLE_LIMIT = 0.05


def settle() -> None:
    """Waits (up to :data:`SETTLE_LIMIT`) until no other thread of this machine is running, so
    that each timed call starts on the machine its predecessor in the round has left: PyTorch's
    OpenMP workers spin for about 9 ms after each of its calls (libgomp's default wait policy),
    and fusedloss's pool, which wakes workers only for idle CPUs, then ran its two-thread calls
    on one thread -- a load nobody chose (the README: a busy machine is measured on purpose).
    Linux: the running count of /proc/loadavg (the reader included); elsewhere a fixed 10 ms."""
    deadline = time.perf_counter() + SETTLE_LIMIT
    try:
        while time.perf_counter() < deadline:
            with open("/proc/loadavg") as loadavg:
                if int(loadavg.read().split()[3].split("/")[0]) <= 1:
                    return
            time.sleep(0.001)
    except (OSError, ValueError, IndexError):
        time.sleep(0.01)


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def available_memory() -> Optional[int]:
    """Bytes of memory available (``MemAvailable`` of /proc/meminfo), ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _threads_value(threads: Optional[int]) -> int:
    core = _backend.core
    if threads is not None:
        return threads
    return int(core.max_threads()) if core is not None else 1


def _shape_text(shape: Shape) -> str:
    return "x".join(str(n) for n in shape)


def _median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1e3


@dataclass
class Settings:
    losses: Sequence[str]
    dtype: np.dtype
    threads: Sequence[Optional[int]]
    repeats: int
    shapes: Optional[Sequence[Shape]] = None
    large: bool = False
    options: bool = False
    peers: bool = True
    numpy_peer: bool = True


def plan_cases(settings: Settings) -> List[Tuple[str, Shape, bool]]:
    """``(loss, shape, is_large)`` in the order they run."""
    planned: List[Tuple[str, Shape, bool]] = []
    for loss in settings.losses:
        if settings.shapes:
            shapes = [s for s in settings.shapes if shape_fits(loss, s)]
            planned += [(loss, tuple(s), int(np.prod(s)) * settings.dtype.itemsize >= LARGE_BYTES) for s in shapes]
            continue
        table = OPTION_SHAPES if settings.options else SHAPES
        planned += [(loss, s, False) for s in table[loss]]
        if settings.large and not settings.options:
            planned += [(loss, s, True) for s in LARGE_SHAPES[loss]]
    return planned


def run_benchmarks(
    losses: Optional[Iterable[str]] = None,
    dtype: Any = np.float32,
    repeats: int = 5,
    threads: Any = None,
    shapes: Optional[Sequence[Shape]] = None,
    large: bool = False,
    options: bool = False,
    peers: bool = True,
    progress: Optional[Callable[[str], None]] = None,
    raw: Optional[List[Dict[str, Any]]] = None,
    notes: Optional[List[str]] = None,
) -> List[Dict[str, Any]]:
    """Run the benchmark and return one row per (loss, shape, dtype, threads[, option]).

    ``threads``: ``None`` (OpenMP's default), an int, or a list of them (one row each).
    ``raw`` (a list) receives every timing; ``notes`` the cases or contenders left out and why.
    Raises ``AssertionError`` if a fused result is wrong, ``ValueError`` for a bad argument.
    """
    names = list(losses) if losses else list(LOSSES)
    for name in names:
        if name not in SHAPES:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    thread_list: List[Optional[int]] = list(threads) if isinstance(threads, (list, tuple)) else [threads]
    for t in thread_list:
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"threads must be positive ints, got {t!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    settings = Settings(names, bench_dtype(dtype), thread_list, repeats, shapes, large, options, peers)
    raw = raw if raw is not None else []
    notes = notes if notes is not None else []
    torch = _import_torch() if peers and not options else None
    jax_peers: Dict[int, _jax_peer.JaxPeer] = {}
    workdir = None
    core = _backend.core
    rows: List[Dict[str, Any]] = []
    planned = plan_cases(settings)
    try:
        if peers and not options:
            if torch is None:
                notes.append("torch not importable: no PyTorch column")
            if not _jax_available():
                notes.append("jax/optax not importable: no JAX column")
            elif planned:
                workdir = tempfile.mkdtemp(prefix="fusedloss-bench-")
                counts = [_threads_value(t) for t in thread_list]
                jax_peers = _jax_peer.start_peers(counts, settings.dtype == np.float64, JAX_PEER_COMMAND, notes)
        for index, (loss, shape, is_large) in enumerate(planned):
            if progress is not None:
                progress(f"[{index + 1}/{len(planned)}] {loss} {_shape_text(shape)} {settings.dtype.name}")
            if options:
                rows += _run_options_case(settings, loss, shape, raw, notes)
            else:
                rows += _run_case(settings, loss, shape, is_large, torch, jax_peers, workdir, raw, notes)
    finally:
        for peer in jax_peers.values():
            peer.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    if core is None:
        notes.append("the compiled extension is not in use: fusedloss timings are the NumPy fallback")
    else:
        notes.append(f"fusedloss ran its {core.selected_isa()} kernels (this CPU supports "
                     f"{', '.join(core.supported_isas())}; FUSEDLOSS_ISA=<name> selects another)")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1):
            notes.append(f"load average {load:.1f} on {os.cpu_count()} cores: other work shared the CPU, "
                         "timings are disturbed, multi-threaded ones most")
    return rows


def check_peer(peer: str, case: Case, fused: Sequence[Any], value: Any, grad: np.ndarray,
               rows: Optional[int] = None) -> Optional[str]:
    """``None`` if a peer's loss and gradient (its first ``rows`` rows when given) match
    fusedloss's result ``fused`` of the plain ``case``, else what differs. PyTorch's hinge
    (``multi_margin_loss``) is fusedloss's divided by C; optax's is the Crammer-Singer hinge,
    compared with :func:`fusedloss._bench.jax_peer.crammer_singer` instead."""
    fused_grad = np.asarray(fused[1])
    fused_grad = fused_grad if rows is None else fused_grad[:rows]
    reference: Tuple[Any, np.ndarray] = (float(fused[0]), fused_grad.astype(np.float64))
    if case.loss == "multiclass_hinge" and peer == "torch":
        classes = case.x.shape[-1]
        reference = (reference[0] / classes, reference[1] / classes)
    elif case.loss == "multiclass_hinge" and peer == "jax":
        reference = _jax_peer.crammer_singer(case.x, case.y, rows)
    # The peers sum in their own order and precision (PyTorch's hinge gradient of a 128000-class
    # row, a float32 sum of 128000 terms, is off by ~5e-4 of its largest entry): 10x looser.
    rtol = PEER_RTOL[case.dtype.name]
    try:
        check_result(f"{peer} {case.loss}", (value, np.asarray(grad)), reference, case.dtype, rtol=rtol)
    except AssertionError as error:
        return str(error)
    return None


def _send_jax_case(case: Case, rows: Optional[int], peers: Mapping[int, _jax_peer.JaxPeer],
                   workdir: str, notes: List[str]) -> Dict[int, str]:
    """Send ``case`` to every JAX worker: they build and compile it side by side, while this
    process checks fusedloss and PyTorch. Returns the gradient file of each worker sent to."""
    where = f"{case.loss} {_shape_text(case.shape)}"
    message = {"cmd": "case", "loss": case.loss, "shape": list(case.shape), "dtype": case.dtype.name,
               "seed": 0, "crc": [_jax_peer.crc32(case.x), _jax_peer.crc32(case.y)], "rows": rows}
    sent: Dict[int, str] = {}
    for threads, peer in peers.items():
        path = os.path.join(workdir, f"jax-grad-{threads}.npy")
        try:
            peer.send(dict(message, grad_path=path))
        except _jax_peer.PeerError as error:
            notes.append(f"JAX peer ({threads} thread(s)) failed at {where}: {error}; no JAX figures for it from there on")
            continue
        sent[threads] = path
    return sent


def _receive_jax_case(case: Case, fused: Sequence[Any], rows: Optional[int], peers: Mapping[int, _jax_peer.JaxPeer],
                      sent: Mapping[int, str], notes: List[str]) -> Dict[int, _jax_peer.JaxPeer]:
    """The answers to :func:`_send_jax_case`: each worker's result is checked against
    fusedloss's ``fused``; returns the workers ready to time the case."""
    where = f"{case.loss} {_shape_text(case.shape)}"
    ready: Dict[int, _jax_peer.JaxPeer] = {}
    unsupported = False
    for threads, path in sent.items():
        peer = peers[threads]
        try:
            answer = peer.receive(_jax_peer.CASE_TIMEOUT)
        except _jax_peer.PeerError as error:
            notes.append(f"JAX peer ({threads} thread(s)) failed at {where}: {error}; no JAX figures for it from there on")
            continue
        if not answer.get("ok"):
            if answer.get("unsupported"):
                if not unsupported:
                    notes.append(f"{case.loss}: no JAX peer ({answer.get('error')})")
                unsupported = True
            else:
                notes.append(f"{where}: JAX ({threads} thread(s)) failed: {answer.get('error')}; not timed")
            continue
        try:
            grad = np.load(path)
            if case.dtype.kind == "V":  # bfloat16, saved as its bits
                grad = grad.view(case.dtype)
            os.remove(path)
        except (OSError, ValueError) as error:
            notes.append(f"{where}: JAX ({threads} thread(s)) gradient unreadable ({error}); not timed")
            continue
        problem = check_peer("jax", case, fused, answer.get("value"), grad, rows)
        if problem is not None:
            notes.append(f"{where}: JAX ({threads} thread(s)) result differs from fusedloss's ({problem}); not timed")
            try:
                peer.request({"cmd": "end"}, _jax_peer.RUN_TIMEOUT)
            except _jax_peer.PeerError:
                pass
            continue
        ready[threads] = peer
    return ready


def _run_case(settings: Settings, loss: str, shape: Shape, is_large: bool, torch: Any,
              jax_peers: Mapping[int, _jax_peer.JaxPeer], workdir: Optional[str],
              raw: List[Dict[str, Any]], notes: List[str]) -> List[Dict[str, Any]]:
    dtype = settings.dtype
    itemsize = dtype.itemsize
    elements = int(np.prod(shape))
    where = f"{loss} {_shape_text(shape)}"
    jax_live = {t: peer for t, peer in jax_peers.items() if peer.alive}
    if is_large:
        # inputs (a second float array for a loss of two, e.g. KL's teacher), gradient, copy
        # destination; then PyTorch's gradient and temporaries: 3 arrays for its own fused
        # losses, 16 for a registry entry's formula (each tensor op's result is kept for
        # autograd: sigmoid_focal_loss at 1 GiB reached 15 GiB and was OOM-killed)
        row = row_entry(loss)
        inputs = 5 if row is not None and not row.takes_labels else 4
        need = elements * itemsize * inputs
        formula = elementwise_entry(loss) is not None or row is not None
        torch_need = elements * itemsize * (16 if formula else 3)
        available = available_memory()
        if available is not None and need > 0.8 * available:
            notes.append(f"{where}: skipped, needs ~{need / 2**30:.1f} GiB, "
                         f"{available / 2**30:.1f} GiB available")
            return []
        if torch is not None and available is not None and need + torch_need > 0.8 * available:
            notes.append(f"{where}: PyTorch not timed, its formula needs ~{torch_need / 2**30:.1f} GiB more")
            torch = None
        need += torch_need if torch is not None else 0
        jax_need = elements * itemsize * JAX_WORKER_COPIES * len(jax_live)
        if jax_live and available is not None and need + jax_need > 0.8 * available:
            notes.append(f"{where}: JAX not timed, its workers need ~{jax_need / 2**30:.1f} GiB more")
            jax_live = {}
    case = make_case(loss, shape, dtype)
    check_rows = 512 if is_large else None
    jax_sent = _send_jax_case(case, check_rows, jax_live, workdir or "", notes) if jax_live else {}
    gradient = np.empty_like(case.x)
    fused = fused_call(loss, case.x, case.y, threads=settings.threads[0], out=gradient)
    try:
        check_case(case, fused, rows=check_rows)
    except AssertionError:
        for count in jax_sent:  # the workers' answers must not be read as the next case's
            jax_live[count].close()
        raise
    copy_destination = np.empty_like(case.x)
    core = _backend.core
    contenders: Dict[str, Callable[[], Any]] = {}
    # NumPy is single-threaded and slow: once per case, and not on the 1 GiB arrays.
    if not is_large:
        contenders["numpy"] = lambda: reference_call(loss, case.x, case.y)
    else:
        notes.append(f"{where}: NumPy reference not timed (several GiB of float64)")
    contenders["copyto"] = lambda: np.copyto(copy_destination, case.x)
    torch_run = torch_call(torch, case) if torch is not None else None
    if torch_run is not None:
        torch.set_num_threads(_threads_value(settings.threads[0]))
        try:
            value, grad = torch_run()
        except (NotImplementedError, RuntimeError) as error:  # e.g. no bfloat16 multi_margin_loss
            notes.append(f"{where}: PyTorch has no CPU kernel for it in {dtype.name} ({error}); not timed")
            torch_run = None
    if torch_run is not None:
        grad = as_array(grad)
        problem = check_peer("torch", case, fused, value.item(), grad if check_rows is None else grad[:check_rows], check_rows)
        if problem is not None:
            notes.append(f"{where}: PyTorch result differs from fusedloss's ({problem}); not timed")
            torch_run = None
    jax_ready = _receive_jax_case(case, fused, check_rows, jax_live, jax_sent, notes) if jax_sent else {}
    self_timed = []
    for threads in settings.threads:
        t = _threads_value(threads)
        contenders[f"fusedloss@{t}"] = functools.partial(fused_call, loss, case.x, case.y, threads=threads, out=gradient)
        if core is not None:
            contenders[f"copy@{t}"] = functools.partial(core.parallel_copy, case.x, copy_destination, t)
        if torch_run is not None:
            def run_torch(th: int = t, run: Callable[[], Any] = torch_run) -> Any:
                torch.set_num_threads(th)
                return run()
            contenders[f"torch@{t}"] = run_torch
        if t in jax_ready and f"jax@{t}" not in contenders:
            def run_jax(peer: _jax_peer.JaxPeer = jax_ready[t]) -> float:
                if not peer.alive:
                    return float("nan")
                try:
                    return peer.run()
                except _jax_peer.PeerError as error:
                    notes.append(f"JAX peer ({peer.threads} thread(s)) failed at {where}: {error}; "
                                 "no JAX figures for it from there on")
                    return float("nan")
            contenders[f"jax@{t}"] = run_jax
            self_timed.append(f"jax@{t}")
    rounds = {"numpy": NUMPY_ROUNDS}
    if is_large:  # the peers take seconds per call on 1 GiB: fewer rounds for them
        rounds.update({name: LARGE_PEER_ROUNDS for name in contenders if name.startswith(("torch", "jax"))})
    # The NumPy reference ran in check_case, PyTorch in its check (on the first thread count).
    warm = ("numpy", f"torch@{_threads_value(settings.threads[0])}")
    times = median_times(contenders, settings.repeats, rounds=rounds, warm=warm, self_timed=self_timed)
    thread_use: Dict[str, Dict[str, Any]] = {}
    for t, peer in jax_ready.items():
        if not peer.alive:
            continue
        try:
            stats = peer.request({"cmd": "end"}, _jax_peer.RUN_TIMEOUT)
        except _jax_peer.PeerError as error:
            notes.append(f"JAX peer ({t} thread(s)) failed at {where}: {error}; no JAX figures for it from there on")
            continue
        cores = stats.get("cores")
        thread_use[f"jax@{t}"] = {"cores": cores, "busy_threads": stats.get("busy_threads")}
        if isinstance(cores, float) and cores > t * JAX_CORES_SLACK:
            notes.append(f"{where}: JAX with {t} thread(s) kept {cores:.2f} cores busy while it computed")
    for name, values in times.items():
        raw.append({"loss": loss, "shape": list(shape), "dtype": dtype.name, "option": "plain",
                    "contender": name, "times_s": values, **thread_use.get(name, {})})
    numpy_ms = _median_ms(times["numpy"]) if "numpy" in times else None
    copyto_ms = _median_ms(times["copyto"])
    rows = []
    for threads in settings.threads:
        t = _threads_value(threads)
        fused_ms = _median_ms(times[f"fusedloss@{t}"])
        torch_ms = _median_ms(times[f"torch@{t}"]) if f"torch@{t}" in times else None
        jax_ms = _median_ms(times[f"jax@{t}"]) if f"jax@{t}" in times else None
        copy_ms = _median_ms(times[f"copy@{t}"]) if f"copy@{t}" in times else copyto_ms
        peers = [v for v in (numpy_ms, torch_ms, jax_ms) if v is not None]
        fastest = min(peers) if peers else None
        rows.append({
            "loss": loss, "shape": list(shape), "dtype": dtype.name, "threads": t, "option": "plain",
            "large": is_large,
            "fusedloss_ms": fused_ms, "numpy_ms": numpy_ms, "torch_ms": torch_ms, "jax_ms": jax_ms,
            "speedup_vs_numpy": numpy_ms / fused_ms if numpy_ms else None,
            "speedup_vs_fastest_peer": fastest / fused_ms if fastest else None,
            "bytes": case.nbytes,
            "gb_per_s": case.nbytes / (fused_ms * 1e-3) / 1e9,
            "copy_ms": copy_ms, "copyto_ms": copyto_ms,
            "copy_ratio": fused_ms / copy_ms,
        })
    return rows


def _run_options_case(settings: Settings, loss: str, shape: Shape,
                      raw: List[Dict[str, Any]], notes: List[str]) -> List[Dict[str, Any]]:
    dtype = settings.dtype
    cases = {option: make_case(loss, shape, dtype, option) for option in ("plain",) + OPTIONS[loss]}
    gradient = np.empty_like(cases["plain"].x)
    for case in cases.values():
        check_case(case, fused_call(loss, case.x, case.y, threads=settings.threads[0], out=gradient, **case.kwargs))
    rows = []
    for threads in settings.threads:
        t = _threads_value(threads)
        contenders: Dict[str, Callable[[], Any]] = {
            option: functools.partial(fused_call, loss, case.x, case.y, threads=threads, out=gradient, **case.kwargs)
            for option, case in cases.items()
        }
        times = median_times(contenders, settings.repeats)
        plain_ms = _median_ms(times["plain"])
        for option, values in times.items():
            raw.append({"loss": loss, "shape": list(shape), "dtype": dtype.name, "option": option,
                        "contender": f"fusedloss@{t}", "times_s": values})
            ms = _median_ms(values)
            rows.append({
                "loss": loss, "shape": list(shape), "dtype": dtype.name, "threads": t, "option": option,
                "fusedloss_ms": ms, "plain_ms": plain_ms, "overhead_pct": (ms / plain_ms - 1.0) * 100.0,
                "bytes": cases[option].nbytes, "gb_per_s": cases[option].nbytes / (ms * 1e-3) / 1e9,
            })
    return rows


# --------------------------------------------------------------------------- reporting


def machine_info() -> Dict[str, Any]:
    """CPU, cores, selected instruction set, compiler and versions, for ``--json``."""
    from .._config import config

    info: Dict[str, Any] = {"fusedloss": config()}
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = cpu
    info["cpu_count"] = os.cpu_count()
    info["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    info["python"] = sys.version.split()[0]
    versions: Dict[str, Optional[str]] = {"numpy": np.__version__}
    for name in ("torch", "jax", "optax"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None) if module is not None else None
        if versions[name] is None and name != "torch":  # imported in the JAX workers only
            try:
                versions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                pass
    info["versions"] = versions
    return info


def _fmt(value: Optional[float], spec: str = ".3f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _render(header: List[str], body: List[List[str]], left: int) -> str:
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

    def fmt(line: List[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(line) for line in body])


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The rows of :func:`run_benchmarks` as an aligned text table."""
    if rows and "overhead_pct" in rows[0]:
        header = ["loss", "shape", "dtype", "thr", "option", "fusedloss ms", "plain ms", "overhead", "GB/s"]
        body = [[r["loss"], _shape_text(r["shape"]), r["dtype"], str(r["threads"]), r["option"],
                 f"{r['fusedloss_ms']:.3f}", f"{r['plain_ms']:.3f}", f"{r['overhead_pct']:+.1f}%",
                 f"{r['gb_per_s']:.1f}"] for r in rows]
        return _render(header, body, 5)
    header = ["loss", "shape", "dtype", "thr", "fusedloss ms", "NumPy ms", "torch ms", "JAX ms",
              "vs fastest", "GB/s", "copy ms", "x copy", "np.copyto ms"]
    body = [[r["loss"], _shape_text(r["shape"]), r["dtype"], str(r["threads"]),
             f"{r['fusedloss_ms']:.3f}", _fmt(r["numpy_ms"]), _fmt(r["torch_ms"]), _fmt(r["jax_ms"]),
             _fmt(r["speedup_vs_fastest_peer"], ".1f", "x"), f"{r['gb_per_s']:.1f}",
             f"{r['copy_ms']:.3f}", f"{r['copy_ratio']:.2f}", f"{r['copyto_ms']:.3f}"] for r in rows]
    return _render(header, body, 3)


def write_plot(rows: Sequence[Dict[str, Any]], path: str) -> None:
    """Bar charts per case, one colour per thread count (with a legend): the speedup on a log
    axis (over NumPy when only NumPy ran, over the fastest of the peers that ran otherwise), or
    the overhead per option; and copy time / fusedloss time (a parallel copy of the first
    argument on the same threads; above 1 the fused kernel beat that copy, which it can do since
    the copy reads and writes cold memory while the kernel writes one gradient)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases: List[Tuple[Any, ...]] = []
    for r in rows:
        key = (r["loss"], tuple(r["shape"]), r["option"])
        if key not in cases:
            cases.append(key)
    threads = sorted({r["threads"] for r in rows}, key=lambda t: (t is None, t))
    width = 0.8 / max(1, len(threads))
    colours = plt.get_cmap("tab10")

    def placed(values: Callable[[Dict[str, Any]], Optional[float]], axis: Any) -> None:
        for k, t in enumerate(threads):
            xs, ys = [], []
            for r in rows:
                if r["threads"] != t:
                    continue
                value = values(r)
                if value is None or not np.isfinite(value) or value <= 0:
                    continue
                xs.append(cases.index((r["loss"], tuple(r["shape"]), r["option"])) + (k - (len(threads) - 1) / 2) * width)
                ys.append(value)
            axis.bar(xs, ys, width=width, color=colours(k % 10), label=f"{t} thread{'s' if t != 1 else ''}")

    labels = [f"{loss}\n{_shape_text(shape)}" + (f" {option}" if option != "plain" else "")
              for loss, shape, option in cases]
    positions = np.arange(len(cases))
    if rows and "overhead_pct" in rows[0]:
        figure, axis = plt.subplots(figsize=(max(6.0, 0.45 * len(rows)), 4.5))
        placed(lambda r: r["overhead_pct"], axis)
        axis.axhline(10.0, color="gray", linestyle="--", linewidth=1, label="10% target")
        axis.set_ylabel("overhead over the plain loss (%)")
        axis.legend(fontsize=8)
        axes = [axis]
    else:
        peer_ran = any(r.get("torch_ms") or r.get("jax_ms") for r in rows)
        figure, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.6 * len(rows)), 8), sharex=True)
        if peer_ran:
            placed(lambda r: r["speedup_vs_fastest_peer"], axes[0])
            axes[0].set_ylabel("speedup vs fastest peer\n(NumPy, PyTorch, JAX: those that ran)")
        else:
            placed(lambda r: r["speedup_vs_numpy"], axes[0])
            axes[0].set_ylabel("speedup vs NumPy")
        axes[0].set_yscale("log")
        axes[0].axhline(1.0, color="gray", linestyle="--", linewidth=1)
        axes[0].legend(title="fusedloss", fontsize=8)
        placed(lambda r: r["copy_ms"] / r["fusedloss_ms"], axes[1])
        axes[1].axhline(1.0, color="gray", linestyle="--", linewidth=1)
        axes[1].set_ylabel("copy time / fusedloss time\n(> 1: faster than copying the input)")
        axes[1].legend(title="fusedloss", fontsize=8)
    axes[-1].set_xticks(positions)
    axes[-1].set_xticklabels(labels, rotation=90, fontsize=7)
    axes[0].set_title(f"fusedloss bench ({rows[0]['dtype'] if rows else ''}, loss+grad)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
