"""The JAX peer of ``fusedloss bench``, timed in a subprocess per thread count.

Why a subprocess: XLA sizes its CPU thread pools once, when a process creates its JAX CPU
client (the first use of jax), and nothing changes them afterwards. The size comes from the
environment variable ``PJRT_NPROC`` (then ``NPROC``), else from the number of cores the process
may run on (``DefaultThreadPoolSize`` in ``xla/pjrt/utils.cc``, read by
``xla/pjrt/cpu/cpu_client.cc`` for its ``XLAEigen`` intra-op pool and its client pool). The
recipe often quoted for one thread, ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1"``, does not bound them: with jax 0.10.2 on a 2-core machine the
softmax cross-entropy executable still ran on two ``XLAEigen`` threads under it, while with
``PJRT_NPROC=1`` all of its work ran on one thread (per-thread CPU time from
``/proc/self/task/*/schedstat``; see docs/benchmarks.md). So ``fusedloss bench`` starts one
worker per thread count ``t`` with ``PJRT_NPROC=t`` (and ``JAX_PLATFORMS=cpu``: the peer is
XLA's CPU backend even where a GPU build of jax is installed).

Protocol (one JSON object per line; the worker writes its answers on its original stdout and
points file descriptor 1 at stderr, so that nothing a library prints can garble them):

* the worker says ``{"ok": true, "jax": ..., "optax": ..., "pjrt_nproc": ...}`` once jax and
  optax are imported (``{"ok": false, "error": ...}`` if not);
* ``{"cmd": "case", "loss", "shape", "dtype", "seed", "crc", "rows", "grad_path"}``: builds the
  inputs of the plain case with :func:`fusedloss._bench.cases.make_case` from the same seed as the
  parent (their CRC-32s must match the parent's ``crc``), jits ``value_and_grad`` of the optax
  loss, calls it once (compilation), writes the first ``rows`` rows of the gradient (all if
  ``null``) to ``grad_path`` (``.npy``) and answers ``{"ok": true, "value": loss}``, or
  ``{"ok": false, "unsupported": true, ...}`` when optax has no such loss;
* ``{"cmd": "run"}``: one call, timed in the worker with ``time.perf_counter`` around the call
  and ``block_until_ready`` exactly as an in-process closure would be: ``{"ok": true, "seconds"}``;
* ``{"cmd": "end"}``: drops the case; answers ``cores``, the CPU time of the whole worker
  (``time.process_time``, every thread) over the wall time, summed over the ``run`` calls (at
  most ~1 while one thread computes: only the dispatching thread's brief overlap adds to it;
  a loaded machine lowers it), and ``busy_threads``, the on-CPU seconds of each
  thread with at least 10% of the worker's since the case was loaded
  (``/proc/self/task/*/schedstat``; ``null`` where there is none);
* ``{"cmd": "quit"}`` or end of input: exits.

The parent drives the workers from :func:`fusedloss._bench.runner.run_benchmarks` with
:class:`JaxPeer`: each ``run`` is one contender call in the interleaved rounds, so JAX's calls
alternate with fusedloss's, PyTorch's and the copies' exactly as the in-process contenders
alternate with each other. What differs from an in-process contender: JAX's time is taken in
the worker (the pipe round trip around it is not counted), its inputs are the worker's own
copy of the same bytes, and the parent process sleeps on the pipe while the worker computes.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .cases import elementwise_entry, make_case, row_entry

#: Seconds to wait for the worker to import jax, and for one case (inputs + compilation).
START_TIMEOUT = 120.0
CASE_TIMEOUT = 600.0
#: Seconds to wait for one timed call (the 1 GiB shapes take seconds).
RUN_TIMEOUT = 300.0
#: Seconds a worker gets to quit before it is killed.
CLOSE_TIMEOUT = 5.0
#: A thread counts as busy with at least this fraction of the worker's on-CPU time.
BUSY_FRACTION = 0.10


class PeerError(RuntimeError):
    """The JAX worker failed, exited, did not answer in time, or answered nonsense."""


def crc32(array: np.ndarray) -> int:
    """CRC-32 of the bytes of ``array`` (C order): the parent and the worker compare them."""
    return zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data) & 0xFFFFFFFF


def worker_command(x64: bool) -> List[str]:
    """The command line of a worker (``--x64``: float64 cases, ``jax_enable_x64`` on)."""
    return [sys.executable, "-m", "fusedloss._bench.jax_peer"] + (["--x64"] if x64 else [])


def worker_environment(threads: int) -> Dict[str, str]:
    """The parent's environment with XLA's CPU pools sized to ``threads`` and jax on the CPU
    (``XLA_FLAGS`` and the rest are passed on as they are)."""
    environment = dict(os.environ)
    environment["PJRT_NPROC"] = str(threads)
    environment["NPROC"] = str(threads)  # what XLA read before PJRT_NPROC, and reads after it
    environment["JAX_PLATFORMS"] = "cpu"
    return environment


# --------------------------------------------------------------------------- parent side


class JaxPeer:
    """One worker process with XLA's CPU thread pools sized to ``threads``.

    ``command`` replaces :func:`worker_command` (the tests start broken workers with it).
    Every method raises :class:`PeerError` when the worker fails; the worker is then dead and
    :attr:`error` says why.
    """

    def __init__(self, threads: int, x64: bool = False, command: Optional[List[str]] = None) -> None:
        self.threads = threads
        self.error: Optional[str] = None
        self.hello: Dict[str, Any] = {}
        self._answers: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            command or worker_command(x64), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=worker_environment(threads), text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name=f"jax-peer-{threads}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            self._answers.put(line)
        self._answers.put(None)

    @property
    def alive(self) -> bool:
        return self.error is None

    def _fail(self, message: str) -> PeerError:
        if self.error is None:
            self.error = message
            self.close()
        return PeerError(message)

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1][-300:] if lines else ""

    def send(self, message: Dict[str, Any]) -> None:
        if self.error is not None:
            raise PeerError(self.error)
        stdin = self._process.stdin
        try:
            assert stdin is not None
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except (OSError, ValueError) as error:
            raise self._fail(f"worker gone ({type(error).__name__}){self._exit_text()}") from None

    def _exit_text(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        tail = self._stderr_tail()
        return f": exit code {code}" + (f", stderr: {tail}" if tail else "")

    def receive(self, timeout: float) -> Dict[str, Any]:
        if self.error is not None:
            raise PeerError(self.error)
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise self._fail(f"no answer in {timeout:.0f} s") from None
        if line is None:
            raise self._fail(f"worker exited{self._exit_text()}")
        try:
            answer = json.loads(line)
        except ValueError:
            raise self._fail(f"unreadable answer {line.strip()[:200]!r}") from None
        if not isinstance(answer, dict):
            raise self._fail(f"unreadable answer {line.strip()[:200]!r}")
        return answer

    def request(self, message: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        self.send(message)
        return self.receive(timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Dict[str, Any]:
        """The worker's greeting (versions); :class:`PeerError` if it could not import jax."""
        answer = self.receive(timeout)
        if not answer.get("ok"):
            raise self._fail(str(answer.get("error", "worker failed to start")))
        self.hello = answer
        return answer

    def run(self) -> float:
        """One timed call of the current case: the seconds measured in the worker."""
        answer = self.request({"cmd": "run"}, RUN_TIMEOUT)
        seconds = answer.get("seconds")
        if not answer.get("ok") or not isinstance(seconds, float):
            raise self._fail(f"run failed: {answer.get('error', answer)}")
        return seconds

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not within :data:`CLOSE_TIMEOUT` s."""
        process = self._process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                process.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                process.wait(timeout=CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except (OSError, ValueError):
                pass
        try:
            self._stderr.close()
        except OSError:
            pass
        if self.error is None:
            self.error = "closed"


def start_peers(thread_counts: List[int], x64: bool, command: Optional[List[str]] = None,
                notes: Optional[List[str]] = None) -> Dict[int, JaxPeer]:
    """Start one worker per thread count (in parallel) and wait for each; the ones that fail
    are left out with a note."""
    peers: Dict[int, JaxPeer] = {}
    notes = notes if notes is not None else []
    started = {}
    for threads in dict.fromkeys(thread_counts):
        try:
            started[threads] = JaxPeer(threads, x64, command)
        except OSError as error:
            notes.append(f"JAX peer ({threads} thread(s)) could not start: {error}; no JAX figures for it")
    for threads, peer in started.items():
        try:
            peer.wait_ready()
        except PeerError as error:
            notes.append(f"JAX peer ({threads} thread(s)) failed to start: {error}; no JAX figures for it")
            continue
        peers[threads] = peer
    return peers


def crammer_singer(x: np.ndarray, labels: np.ndarray, rows: Optional[int] = None,
                   block: Optional[int] = None) -> Tuple[float, np.ndarray]:
    """float64 NumPy reference of what ``optax.losses.multiclass_hinge_loss`` computes (the
    Crammer-Singer hinge ``max_j(s_j + 1 - [j = y]) - s_y``, mean over rows) and the gradient of
    its mean on the first ``rows`` rows (all if ``None``), ties of the max sharing the gradient
    equally as JAX's ``max`` does. Processed in blocks of ``block`` rows (default: 2^22
    elements each, 32 MiB per float64 temporary): bounded memory on 1 GiB inputs."""
    n, classes = x.shape
    block = block if block is not None else max(1, (1 << 22) // max(classes, 1))
    rows = n if rows is None else min(rows, n)
    total = 0.0
    grad = np.zeros((rows, classes))
    for start in range(0, n, block):
        s = np.asarray(x[start:start + block], dtype=np.float64)
        y = np.asarray(labels[start:start + block])
        one_hot = np.zeros_like(s)
        one_hot[np.arange(len(y)), y] = 1.0
        shifted = s + 1.0 - one_hot
        top = shifted.max(axis=-1, keepdims=True)
        total += float((top[:, 0] - s[np.arange(len(y)), y]).sum())
        if start < rows:
            ties = (shifted == top).astype(np.float64)
            part = ties / ties.sum(axis=-1, keepdims=True) - one_hot
            take = min(rows - start, len(y))
            grad[start:start + take] = part[:take] / n
    return total / n, grad


# --------------------------------------------------------------------------- worker side


def _elementwise_function(jax: Any, optax: Any, loss: str, parameters: Tuple[float, ...]) -> Optional[Callable[[Any, Any], Any]]:
    """The per-element loss of an elementwise loss in JAX: optax's where it has the loss
    (``squared_error``, ``huber_loss``), else its ``jax.numpy`` formula (SPEC "More losses");
    ``None`` for a loss not written here (the bench then notes "no JAX peer")."""
    jnp = jax.numpy
    losses = getattr(optax, "losses", optax)

    def tweedie(x: Any, t: Any, power: float) -> Any:
        if power == 0.0:
            return 0.5 * (jnp.exp(x) - t) ** 2
        if power == 1.0:
            return jnp.exp(x) - t * x
        if power == 2.0:
            return x + t * jnp.exp(-x)
        return jnp.exp((2.0 - power) * x) / (2.0 - power) - t * jnp.exp((1.0 - power) * x) / (1.0 - power)

    def smooth_l1(x: Any, t: Any, beta: float) -> Any:
        return losses.huber_loss(x, t, delta=beta) / beta if beta > 0 else jnp.abs(x - t)

    def pinball(x: Any, t: Any, q: float) -> Any:
        return jnp.where(x > t, (1.0 - q) * (x - t), q * (t - x))

    def sigmoid_focal(x: Any, t: Any, alpha: float, gamma: float) -> Any:
        # optax's alpha=None is torchvision's alpha < 0: no alpha weighting
        return losses.sigmoid_focal_loss(x, t, alpha=None if alpha < 0 else alpha, gamma=gamma)

    formulas: Dict[str, Callable[..., Any]] = {
        "mean_squared_error": lambda x, t: losses.squared_error(x, t),
        "mean_absolute_error": lambda x, t: jnp.abs(x - t),
        "huber_loss": lambda x, t, delta: losses.huber_loss(x, t, delta=delta),
        "smooth_l1_loss": smooth_l1,
        "pinball_loss": pinball,
        "poisson_loss": lambda x, t: jnp.exp(x) - t * x,
        "gamma_loss": lambda x, t: x + t * jnp.exp(-x),
        "tweedie_loss": tweedie,
        "sigmoid_binary_cross_entropy": lambda x, t: losses.sigmoid_binary_cross_entropy(x, t),
        "sigmoid_focal_loss": sigmoid_focal,
    }
    per_element = formulas.get(loss)
    if per_element is None:
        return None
    return lambda x, t: per_element(x, t, *parameters).mean()


def loss_function(jax: Any, optax: Any, loss: str) -> Optional[Callable[[Any, Any], Any]]:
    """The optax loss (mean over rows) standing for ``loss``, ``None`` if optax has none; an
    elementwise loss at its registry entry's default parameters."""
    jnp = jax.numpy
    losses = getattr(optax, "losses", optax)
    entry = elementwise_entry(loss)
    if entry is not None:
        return _elementwise_function(jax, optax, loss, entry.defaults())
    if loss == "softmax_cross_entropy":
        def fn(x: Any, y: Any) -> Any:
            return losses.softmax_cross_entropy_with_integer_labels(x, y).mean()
    elif loss == "multiclass_hinge" and hasattr(losses, "multiclass_hinge_loss"):
        def fn(x: Any, y: Any) -> Any:
            return losses.multiclass_hinge_loss(x, y).mean()
    elif loss == "cross_entropy":
        def fn(x: Any, y: Any) -> Any:
            return -jnp.take_along_axis(jnp.log(x + 1e-7), y[:, None], axis=-1).mean()
    elif loss == "softmax_focal_loss":
        gamma = row_entry(loss).defaults()[0]  # type: ignore[union-attr]

        def fn(x: Any, y: Any) -> Any:
            log_p = jnp.take_along_axis(jax.nn.log_softmax(x, axis=-1), y[:, None], axis=-1)
            return (-((1.0 - jnp.exp(log_p)) ** gamma) * log_p).mean()
    elif loss == "softmax_kl_divergence" and hasattr(losses, "kl_divergence_with_log_targets"):
        temperature = row_entry(loss).defaults()[0]  # type: ignore[union-attr]

        def fn(x: Any, y: Any) -> Any:  # y: the teacher's logits
            return losses.kl_divergence_with_log_targets(
                jax.nn.log_softmax(x / temperature, axis=-1),
                jax.nn.log_softmax(y / temperature, axis=-1)).mean()
    else:
        return None
    return fn


def thread_cpu_seconds() -> Optional[Dict[str, float]]:
    """On-CPU seconds of each thread of this process (``/proc/self/task/*/schedstat``, in
    nanoseconds), keyed ``"tid name"``; ``None`` where there is no such file."""
    result: Dict[str, float] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as handle:
                on_cpu = int(handle.read().split()[0]) * 1e-9
            with open(f"/proc/self/task/{tid}/comm") as handle:
                name = handle.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        result[f"{tid} {name}"] = on_cpu
    return result or None


class _Case:
    def __init__(self, jax: Any, optax: Any, message: Dict[str, Any]) -> None:
        loss = str(message["loss"])
        case = make_case(loss, tuple(message["shape"]), message["dtype"], seed=int(message.get("seed", 0)))
        crc = [crc32(case.x), crc32(case.y)]
        if message.get("crc") is not None and list(message["crc"]) != crc:
            raise ValueError(f"inputs differ from the parent's (CRC-32 {crc} != {message['crc']})")
        fn = loss_function(jax, optax, loss)
        if fn is None:
            raise NotImplementedError(f"optax {optax.__version__} has no {loss}")
        self.step = jax.jit(jax.value_and_grad(fn))
        self.x = jax.device_put(case.x)
        self.y = jax.device_put(case.y.astype(np.int32) if case.y.dtype.kind in "iu" else case.y)
        del case
        value, grad = self.step(self.x, self.y)  # compiles
        grad.block_until_ready()
        rows = message.get("rows")
        # (bfloat16 saved as its bits: .npy has no bfloat16; the parent views them back)
        saved = np.asarray(grad)[: None if rows is None else int(rows)]
        np.save(str(message["grad_path"]), saved.view(np.uint16) if saved.dtype.kind == "V" else saved)
        self.value = float(value)
        self.wall = 0.0
        self.cpu = 0.0
        self.threads_before = thread_cpu_seconds()

    def run(self) -> float:
        cpu = time.process_time()
        start = time.perf_counter()
        _value, grad = self.step(self.x, self.y)
        grad.block_until_ready()
        elapsed = time.perf_counter() - start
        self.cpu += time.process_time() - cpu
        self.wall += elapsed
        return elapsed

    def stats(self) -> Dict[str, Any]:
        """CPU seconds of the whole process over wall seconds, summed over the timed calls (the
        cores in use while JAX computed: at most 1 with one thread, whatever the load), and the
        threads that had at least 10% of the on-CPU time since the case was loaded."""
        answer: Dict[str, Any] = {"ok": True, "cpu_s": self.cpu, "wall_s": self.wall,
                                  "cores": self.cpu / self.wall if self.wall > 0 else None,
                                  "busy_threads": None}
        before, after = self.threads_before, thread_cpu_seconds()
        if before is not None and after is not None:
            spent = {name: after[name] - before.get(name, 0.0) for name in after}
            total = sum(spent.values())
            busy = sorted(((v, k) for k, v in spent.items() if total > 0 and v >= BUSY_FRACTION * total), reverse=True)
            answer["busy_threads"] = {k: round(v, 6) for v, k in busy}
        return answer


def serve(commands: IO[str], answers: IO[str], x64: bool) -> int:
    """The worker loop (see the module docstring)."""

    def answer(message: Dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    try:
        import jax  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import optax  # type: ignore[import-untyped,import-not-found,unused-ignore]

        if x64:
            jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call,unused-ignore]
        device = str(jax.devices()[0])
    except Exception as error:  # any import or start failure: say so, then stop
        answer({"ok": False, "error": f"{type(error).__name__}: {error}"})
        return 1
    answer({"ok": True, "jax": jax.__version__, "optax": optax.__version__,
            "pjrt_nproc": os.environ.get("PJRT_NPROC"), "device": device})
    case: Optional[_Case] = None
    for line in commands:
        if not line.strip():
            continue
        message = json.loads(line)
        command = message.get("cmd")
        if command == "quit":
            break
        try:
            if command == "case":
                case = None
                case = _Case(jax, optax, message)
                answer({"ok": True, "value": case.value})
            elif command == "run":
                if case is None:
                    raise RuntimeError("no case loaded")
                answer({"ok": True, "seconds": case.run()})
            elif command == "end":
                answer(case.stats() if case is not None else {"ok": True, "cores": None, "busy_threads": None})
                case = None
            else:
                raise ValueError(f"unknown command {command!r}")
        except NotImplementedError as error:
            answer({"ok": False, "unsupported": True, "error": str(error)})
        except Exception as error:  # reported to the parent, which leaves JAX out of the case
            answer({"ok": False, "error": f"{type(error).__name__}: {error}"})
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # The answers go to the original stdout; anything else printed goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(sys.stdin, answers, x64="--x64" in args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
