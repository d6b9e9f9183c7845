"""One loss in float32, bfloat16 and float16, side by side in one process (issue 20's targets).

    python bench/compare_dtypes.py [--shape 8192x32000] [--loss softmax_cross_entropy,...]
                                   [--threads 1,2] [--repeats 5]

Times loss+gradient (``reduction="mean"``, ``out=`` preallocated) of each dtype at one shape,
the dtypes interleaved round by round (noise hits them alike), next to a copy of that dtype's
own bytes on the same threads (the bandwidth floor of a one-pass kernel). Prints, per loss and
thread count: the milliseconds, the 16-bit time as a fraction of float32's (target <= 0.6 for
bfloat16) and each time as a multiple of its copy (target <= 2).
"""

from __future__ import annotations

import argparse
import statistics
import time

import ml_dtypes
import numpy as np

from fusedloss import _core
from fusedloss._bench.cases import fused_call, make_case

DTYPES = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(ml_dtypes.bfloat16),
          "float16": np.dtype(np.float16)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="8192x32000")
    parser.add_argument("--loss", default="softmax_cross_entropy,multiclass_hinge,mean_squared_error")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shape = tuple(int(part) for part in args.shape.split("x"))
    threads = [int(part) for part in args.threads.split(",")]
    print(f"shape {args.shape}, ISA {_core.selected_isa()}, medians of {args.repeats} interleaved rounds")
    print(f"{'loss':24s} {'thr':>3s} {'dtype':>9s} {'ms':>8s} {'copy ms':>8s} {'x copy':>7s} {'x float32':>9s}")
    for loss in args.loss.split(","):
        loss_shape = (int(np.prod(shape)),) if loss == "mean_squared_error" else shape
        cases = {name: make_case(loss, loss_shape, dtype) for name, dtype in DTYPES.items()}
        for count in threads:
            calls = {}
            for name, case in cases.items():
                gradient = np.empty_like(case.x)
                destination = np.empty_like(case.x)
                calls[name] = (lambda c=case, g=gradient: fused_call(loss, c.x, c.y, threads=count, out=g))
                calls[f"copy {name}"] = (lambda c=case, d=destination: _core.parallel_copy(c.x, d, count))
            for call in calls.values():
                call()
            times = {name: [] for name in calls}
            for _ in range(args.repeats):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    times[name].append(time.perf_counter() - start)
            ms = {name: statistics.median(values) * 1e3 for name, values in times.items()}
            for name in DTYPES:
                print(f"{loss:24s} {count:3d} {name:>9s} {ms[name]:8.1f} {ms['copy ' + name]:8.1f} "
                      f"{ms[name] / ms['copy ' + name]:7.2f} {ms[name] / ms['float32']:9.2f}", flush=True)
        del cases


if __name__ == "__main__":
    main()
