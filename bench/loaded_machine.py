"""fusedloss on a machine that other work shares: default-thread calls against threads=1.

Two modes, both float32 loss + gradient (reduction "mean", ``out=`` reused), medians of
interleaved rounds:

* **loaded** (the default): starts ``--load`` busy-looping processes (default: one per CPU),
  then times, per case, ``threads=None`` and ``threads=1`` fusedloss calls -- and PyTorch
  (``torch.set_num_threads``) and JAX (a worker process per thread count, XLA pools sized by
  ``PJRT_NPROC``; see ``fusedloss._bench.jax_peer``) at the same two thread counts when installed --
  one call of each per round, so that the load hits them alike. Prints medians and the ratio
  default / 1 thread, and stops the load (also on Ctrl-C or an error). ``--load 0`` gives the
  quiet table with the same code.
* **fresh** (``--fresh K``): K fresh processes in a row, each timing the default call against
  threads=1 (interleaved) and reporting its medians; catches what depends on the process's
  start (e.g. a VM whose virtual CPUs are not always running together: a threaded call that
  waits for a thread the host has not scheduled). Takes ``--load`` too (default 0 there).
* **idle moments** (``--idle-moments N``): on a machine that others share, the quiet-machine
  speedup: times threads=2 against threads=1 (N pairs per case, order alternating) only at
  moments when nothing else is runnable (the runnable count of ``/proc/loadavg`` is 1: this
  process), waiting in between (at most ``--idle-wait`` seconds).

    python bench/loaded_machine.py                     # loaded, load = CPUs, with peers
    python bench/loaded_machine.py --load 0            # quiet
    python bench/loaded_machine.py --fresh 20          # 20 fresh processes, no load
    python bench/loaded_machine.py --idle-moments 60   # 2 vs 1 thread when the machine is idle
    python bench/loaded_machine.py --no-peers --repeats 31 --json out.json

Reading the figures: the target is a default call at most 1.25x its threads=1 time under the
same load (``ratio`` column). On a quiet machine the ratio is the 2-thread speedup (< 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

import fusedloss
from fusedloss._bench import jax_peer as _jax_peer, runner as _benchmark

#: (loss, shape): softmax-CE at the four shapes of issue 17, the other losses at a bench shape.
CASES: List[Tuple[str, Tuple[int, ...]]] = [
    ("softmax_cross_entropy", (65536, 10)),
    ("softmax_cross_entropy", (4096, 1000)),
    ("softmax_cross_entropy", (256, 32000)),
    ("softmax_cross_entropy", (32, 128000)),
    ("multiclass_hinge", (4096, 1000)),
    ("sigmoid_binary_cross_entropy", (4096, 1000)),
    ("cross_entropy", (4096, 1000)),
    ("mean_squared_error", (1_000_000,)),
]
SHORT = {"softmax_cross_entropy": "softmax-CE", "multiclass_hinge": "hinge",
         "sigmoid_binary_cross_entropy": "sigmoid BCE", "cross_entropy": "cross_entropy",
         "mean_squared_error": "MSE"}

BUSY_LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def busy_load(processes: int) -> Iterator[List[subprocess.Popen]]:
    """``processes`` busy-looping Python processes for the duration of the block."""
    started: List[subprocess.Popen] = []
    try:
        for _ in range(processes):
            started.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        time.sleep(0.3 if processes else 0.0)  # let the scheduler see them
        yield started
    finally:
        for process in started:
            process.kill()
        for process in started:
            process.wait()


def default_threads() -> int:
    from fusedloss import _core
    return int(_core.max_threads())


def _fused(case: _benchmark.Case, threads: Optional[int]) -> Callable[[], Any]:
    out = np.empty_like(case.x)
    return lambda: _benchmark.fused_call(case.loss, case.x, case.y, threads=threads, out=out)


def _torch(torch: Any, case: _benchmark.Case, threads: int) -> Optional[Callable[[], Any]]:
    run = _benchmark.torch_call(torch, case)
    if run is None:
        return None

    def call() -> Any:
        torch.set_num_threads(threads)
        return run()

    return call


def interleaved_times(contenders: Dict[str, Callable[[], Any]], repeats: int,
                      self_timed: Sequence[str] = ()) -> Dict[str, List[float]]:
    """Seconds per call of each contender: one warm-up call each, then ``repeats`` rounds of
    one call each. The position in a round matters (a call right after PyTorch's meets its
    OpenMP threads still spinning; under load, a call after another meets the end of the time
    slice), so each library's pair (default, 1 thread) runs as a group, fusedloss's first,
    and the order within each pair alternates from round to round."""
    for fn in contenders.values():
        fn()
    names = list(contenders)
    groups: Dict[str, List[str]] = {}
    for name in names:
        groups.setdefault(name.split()[0], []).append(name)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for index in range(max(1, repeats)):
        order = [name for group in groups.values() for name in (group if index % 2 == 0 else group[::-1])]
        for name in order:
            start = time.perf_counter()
            result = contenders[name]()
            elapsed = time.perf_counter() - start
            times[name].append(float(result) if name in self_timed else elapsed)
    return {name: values for name, values in times.items() if not any(v != v for v in values)}


def time_case(case: _benchmark.Case, repeats: int, torch: Any,
              jax_peers: Dict[str, _jax_peer.JaxPeer]) -> Dict[str, float]:
    """Median ms of each contender, interleaved rounds after one warm-up call each."""
    contenders: Dict[str, Callable[[], Any]] = {
        "fusedloss default": _fused(case, None),
        "fusedloss 1": _fused(case, 1),
    }
    # Same bits whatever the thread count.
    first, second = contenders["fusedloss default"](), contenders["fusedloss 1"]()
    assert np.asarray(first[0]).tobytes() == np.asarray(second[0]).tobytes()
    assert np.asarray(first[1]).tobytes() == np.asarray(second[1]).tobytes()
    if torch is not None:
        for label, threads in (("torch default", default_threads()), ("torch 1", 1)):
            call = _torch(torch, case, threads)
            if call is not None:
                contenders[label] = call
    self_timed = []
    ready = {}
    for label, peer in jax_peers.items():
        message = {"cmd": "case", "loss": case.loss, "shape": list(case.shape), "dtype": case.dtype.name,
                   "seed": 0, "crc": [_jax_peer.crc32(case.x), _jax_peer.crc32(case.y)], "rows": None,
                   "grad_path": os.path.join(tempfile.gettempdir(), f"loaded-jax-{os.getpid()}-{label.split()[1]}.npy")}
        try:
            answer = peer.request(message, _jax_peer.CASE_TIMEOUT)
        except _jax_peer.PeerError:
            continue
        with contextlib.suppress(OSError):
            os.remove(message["grad_path"])
        if answer.get("ok"):
            contenders[label] = peer.run
            self_timed.append(label)
            ready[label] = peer
    times = interleaved_times(contenders, repeats, self_timed=self_timed)
    for peer in ready.values():
        with contextlib.suppress(_jax_peer.PeerError):
            peer.request({"cmd": "end"}, _jax_peer.RUN_TIMEOUT)
    return {label: statistics.median(values) * 1e3 for label, values in times.items() if values}


def run_loaded(args: argparse.Namespace) -> List[Dict[str, Any]]:
    torch = None if args.no_peers else _benchmark._import_torch()
    jax_peers: Dict[str, _jax_peer.JaxPeer] = {}
    rows: List[Dict[str, Any]] = []
    with busy_load(args.load):
        try:
            if not args.no_peers and _benchmark._jax_available():
                notes: List[str] = []
                started = _jax_peer.start_peers(sorted({default_threads(), 1}), x64=False, notes=notes)
                for threads, peer in started.items():
                    jax_peers[f"jax {'1' if threads == 1 else 'default'}"] = peer
                if default_threads() == 1 and 1 in started:
                    jax_peers["jax default"] = started[1]
            for loss, shape in args.cases:
                case = _benchmark.make_case(loss, shape)
                medians = time_case(case, args.repeats, torch, jax_peers)
                rows.append({"loss": loss, "shape": list(shape), "medians_ms": medians})
                print(_format_row(rows[-1]), flush=True)
        finally:
            for peer in set(jax_peers.values()):
                peer.close()
    return rows


def _format_row(row: Dict[str, Any]) -> str:
    m = row["medians_ms"]

    def cell(label: str) -> str:
        return f"{m[label]:.3g}" if label in m else "-"

    def ratio(a: str, b: str) -> str:
        return f"{m[a] / m[b]:.2f}" if a in m and b in m else "-"

    shape = "x".join(str(n) for n in row["shape"])
    return (f"| {SHORT[row['loss']]} | {shape} | {cell('fusedloss default')} | {cell('fusedloss 1')} | "
            f"{ratio('fusedloss default', 'fusedloss 1')} | {cell('torch default')} | {cell('torch 1')} | "
            f"{cell('jax default')} | {cell('jax 1')} |")


HEADER = ("| loss | shape | fusedloss default ms | fusedloss 1 thread ms | ratio | PyTorch default ms | "
          "PyTorch 1 ms | JAX default ms | JAX 1 ms |\n|---|---|---|---|---|---|---|---|---|")

FRESH_CHILD = r"""
import json, statistics, sys, time
import numpy as np
from fusedloss._bench import runner as _benchmark
cases, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
result = []
for loss, shape in cases:
    case = _benchmark.make_case(loss, tuple(shape))
    out = np.empty_like(case.x)
    calls = {label: (lambda threads=threads: _benchmark.fused_call(case.loss, case.x, case.y, threads=threads, out=out))
             for label, threads in (("default", None), ("1", 1))}
    for fn in calls.values():
        fn()
    times = {label: [] for label in calls}
    for index in range(repeats):
        for label in (("default", "1") if index % 2 == 0 else ("1", "default")):
            start = time.perf_counter()
            calls[label]()
            times[label].append(time.perf_counter() - start)
    result.append({label: statistics.median(values) * 1e3 for label, values in times.items()})
print(json.dumps(result))
"""


def run_fresh(args: argparse.Namespace) -> List[Dict[str, Any]]:
    per_process: List[List[Dict[str, float]]] = []
    cases = [[loss, list(shape)] for loss, shape in args.cases]
    with busy_load(args.load):
        for index in range(args.fresh):
            output = subprocess.run([sys.executable, "-c", FRESH_CHILD, json.dumps(cases), str(args.repeats)],
                                    capture_output=True, text=True, check=True, timeout=600).stdout
            per_process.append(json.loads(output.strip().splitlines()[-1]))
            print(f"process {index + 1}/{args.fresh}: " + ", ".join(
                f"{m['default']:.3g}/{m['1']:.3g}" for m in per_process[-1]), flush=True)
    rows = []
    for k, (loss, shape) in enumerate(args.cases):
        defaults = [p[k]["default"] for p in per_process]
        ones = [p[k]["1"] for p in per_process]
        ratios = [d / o for d, o in zip(defaults, ones)]
        rows.append({"loss": loss, "shape": list(shape), "default_ms": defaults, "one_ms": ones, "ratios": ratios})
    return rows


def _format_fresh(row: Dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in row["shape"])
    d, o, r = row["default_ms"], row["one_ms"], row["ratios"]
    return (f"| {SHORT[row['loss']]} | {shape} | {statistics.median(d):.3g} ({min(d):.3g}-{max(d):.3g}) | "
            f"{statistics.median(o):.3g} ({min(o):.3g}-{max(o):.3g}) | {statistics.median(r):.2f} | {max(r):.2f} |")


FRESH_HEADER = ("| loss | shape | default ms: median of the processes' medians (min-max) | 1 thread ms (min-max) | "
                "median ratio | worst ratio |\n|---|---|---|---|---|---|")


def _runnable() -> int:
    with open("/proc/loadavg") as handle:
        return int(handle.read().split()[3].split("/")[0])


def run_idle_moments(args: argparse.Namespace) -> List[Dict[str, Any]]:
    cases = [_benchmark.make_case(loss, shape) for loss, shape in args.cases]
    outs = [np.empty_like(case.x) for case in cases]
    times: List[Dict[int, List[float]]] = [{1: [], 2: []} for _ in cases]
    for case, out in zip(cases, outs):
        for threads in (1, 2):
            _benchmark.fused_call(case.loss, case.x, case.y, threads=threads, out=out)
    deadline = time.time() + args.idle_wait
    while time.time() < deadline and min(len(t[1]) for t in times) < args.idle_moments:
        if _runnable() > 1:
            time.sleep(0.002)
            continue
        for case, out, measured in zip(cases, outs, times):
            for threads in ((1, 2) if len(measured[1]) % 2 == 0 else (2, 1)):
                start = time.perf_counter()
                _benchmark.fused_call(case.loss, case.x, case.y, threads=threads, out=out)
                measured[threads].append(time.perf_counter() - start)
    rows = []
    for (loss, shape), measured in zip(args.cases, times):
        one, two = (statistics.median(measured[t]) * 1e3 if measured[t] else float("nan") for t in (1, 2))
        rows.append({"loss": loss, "shape": list(shape), "pairs": len(measured[1]), "one_ms": one, "two_ms": two})
    return rows


def _format_idle(row: Dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in row["shape"])
    return (f"| {SHORT[row['loss']]} | {shape} | {row['pairs']} | {row['one_ms']:.3g} | {row['two_ms']:.3g} | "
            f"{row['two_ms'] / row['one_ms']:.2f} |")


IDLE_HEADER = "| loss | shape | pairs | 1 thread ms | 2 threads ms | ratio |\n|---|---|---|---|---|---|"


def _parse_case(text: str) -> Tuple[str, Tuple[int, ...]]:
    from fusedloss._bench.runner import LOSSES

    loss, _, shape = text.partition(":")
    if loss not in LOSSES:
        raise argparse.ArgumentTypeError(f"unknown loss {loss!r}: choose from {', '.join(LOSSES)}")
    try:
        return loss, tuple(int(n) for n in shape.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {shape!r}: expected ROWSxCLASSES or ELEMENTS") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", type=int, default=None,
                        help="busy-looping processes (default: CPUs in loaded mode, 0 with --fresh)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds per case (default 15)")
    parser.add_argument("--fresh", type=int, default=0, metavar="K", help="K fresh processes instead")
    parser.add_argument("--idle-moments", type=int, default=0, metavar="N",
                        help="N pairs of 2 vs 1 thread timed only while the machine is idle instead")
    parser.add_argument("--idle-wait", type=float, default=300.0, help="seconds to wait for idle moments")
    parser.add_argument("--no-peers", action="store_true", help="no PyTorch / JAX")
    parser.add_argument("--case", action="append", type=_parse_case, metavar="LOSS:SHAPE",
                        help="e.g. softmax_cross_entropy:32x128000 (repeatable; default: the issue-17 set)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--wake-busy", action="store_true",
                        help="wake pool workers even with no idle CPU (FUSEDLOSS_WAKE_BUSY=1): the pool alone")
    args = parser.parse_args(argv)
    args.cases = args.case or CASES
    if args.load is None:
        args.load = 0 if args.fresh or args.idle_moments else (os.cpu_count() or 1)
    from fusedloss import _core
    if args.wake_busy:
        os.environ["FUSEDLOSS_WAKE_BUSY"] = "1"  # the fresh processes
        if hasattr(_core, "set_wake_when_busy"):
            _core.set_wake_when_busy(True)
    info = fusedloss.config()
    print(f"# fusedloss {info['version']} isa {info.get('isa_selected')}, default threads "
          f"{_core.max_threads()}, cpus {os.cpu_count()}, load {args.load} busy processes, "
          f"repeats {args.repeats}, load average {os.getloadavg()[0]:.2f} before"
          + (", workers woken when busy" if args.wake_busy else ""), flush=True)
    if args.idle_moments:
        rows = run_idle_moments(args)
        print(IDLE_HEADER)
        for row in rows:
            print(_format_idle(row))
    elif args.fresh:
        rows = run_fresh(args)
        print(FRESH_HEADER)
        for row in rows:
            print(_format_fresh(row))
    else:
        print(HEADER, flush=True)
        rows = run_loaded(args)
    if args.json:
        with open(args.json, "w") as handle:
            mode = "idle-moments" if args.idle_moments else "fresh" if args.fresh else "loaded"
            json.dump({"mode": mode, "load": args.load, "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
