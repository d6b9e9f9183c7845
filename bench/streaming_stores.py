"""Streaming stores on and off, side by side in one process (docs/performance-notes.md,
"Streaming stores").

    python bench/streaming_stores.py [--case LOSS:SHAPE:DTYPE ...] [--threads 1] [--repeats N]

Times loss+gradient (``reduction="mean"``, ``out=`` preallocated) of each case with the
kernels' streaming-store threshold at its default (32 MiB: outputs that large stream) and at
its maximum (nothing streams), each with its own output buffer, the two alternated round by
round. Each round runs a setting twice and times the second call: a call leaves up to a
last-level cache of dirty gradient lines behind, written back during the next call, so a call
right after the other setting's pays for that setting's stores, not its own (on Zen 4,
alternated call by call, the bfloat16 hinge at 1024 x 32000 read 1.43 where these rounds read
1.03). Prints the medians and their ratio (on / off: below 1, streaming pays). SHAPE is
ROWSxCLASSES or ELEMENTS; DTYPE float32, float64, bfloat16 or float16.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np

from fusedloss import _core
from fusedloss._bench.cases import bench_dtype, fused_call, make_case

DEFAULT_CASES = [
    "softmax_cross_entropy:1024x32000:float32", "softmax_cross_entropy:1024x32000:bfloat16",
    "softmax_cross_entropy:1024x32000:float16", "softmax_focal_loss:1024x32000:float32",
    "softmax_focal_loss:1024x32000:bfloat16", "softmax_kl_divergence:1024x32000:bfloat16",
    "multiclass_hinge:1024x32000:float32", "multiclass_hinge:1024x32000:bfloat16",
    "multiclass_hinge:1024x32000:float16", "sigmoid_focal_loss:30000000:bfloat16",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="LOSS:SHAPE:DTYPE (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=0, help="timed calls each (default: by size)")
    args = parser.parse_args()
    default = _core.streaming_threshold()
    print(f"ISA {_core.selected_isa()}, {args.threads} thread(s), streaming from {default >> 20} MiB")
    for spec in args.case or DEFAULT_CASES:
        loss, shape_text, dtype = spec.split(":")
        shape = tuple(int(float(part)) for part in shape_text.split("x"))
        case = make_case(loss, shape, bench_dtype(dtype))
        outputs = {"off": np.empty_like(case.x), "on": np.empty_like(case.x)}
        repeats = args.repeats or min(100, max(5, int(1e8 / case.x.size)))
        times = {"off": [], "on": []}
        try:
            for round_ in range(repeats + 1):
                for name, threshold in (("off", 2 ** 62), ("on", default)):
                    _core.set_streaming_threshold(threshold)
                    call = functools.partial(fused_call, loss, case.x, case.y, threads=args.threads,
                                             out=outputs[name], **case.kwargs)
                    call()  # (takes the other setting's write-backs)
                    start = time.perf_counter()
                    call()
                    if round_:  # (the first round warms up)
                        times[name].append(time.perf_counter() - start)
        finally:
            _core.set_streaming_threshold(default)
        off, on = (statistics.median(times[name]) * 1e3 for name in ("off", "on"))
        print(f"{loss:24s} {shape_text:>12s} {dtype:9s} stored {off:8.3f} ms  streamed {on:8.3f} ms  "
              f"on/off {on / off:.3f}", flush=True)


if __name__ == "__main__":
    main()
