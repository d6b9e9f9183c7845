"""Each kernel family on each SIMD path this CPU supports, interleaved in one process.

    python bench/compare_isas.py [--threads N] [--repeats R]

Times loss+gradient (``out=`` preallocated, ``reduction="mean"``) per family at a bench shape,
switching the path with ``fusedloss._core.select_isa`` between rounds (the same arrays, the
same process, alternating order), and prints the median per path and the ratio to the widest.
The path ``fusedloss`` selects by default must be the fastest one (issue 17, item 4).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fusedloss
from fusedloss import _core


def cases(rng):
    def logits(rows, classes):
        return rng.standard_normal((rows, classes)).astype(np.float32)

    return {
        "softmax_cross_entropy 65536x10": (fusedloss.softmax_cross_entropy, logits(65536, 10), rng.integers(0, 10, 65536)),
        "softmax_cross_entropy 4096x1000": (fusedloss.softmax_cross_entropy, logits(4096, 1000), rng.integers(0, 1000, 4096)),
        "softmax_cross_entropy 256x32000": (fusedloss.softmax_cross_entropy, logits(256, 32000), rng.integers(0, 32000, 256)),
        "multiclass_hinge 65536x10": (fusedloss.multiclass_hinge, logits(65536, 10), rng.integers(0, 10, 65536)),
        "multiclass_hinge 4096x1000": (fusedloss.multiclass_hinge, logits(4096, 1000), rng.integers(0, 1000, 4096)),
        "sigmoid_binary_cross_entropy 4096x1000": (fusedloss.sigmoid_binary_cross_entropy, logits(4096, 1000),
                                                   rng.random((4096, 1000)).astype(np.float32)),
        "mean_squared_error 1000000": (fusedloss.mean_squared_error, rng.standard_normal(10**6).astype(np.float32),
                                       rng.standard_normal(10**6).astype(np.float32)),
        "cross_entropy 4096x1000": (fusedloss.cross_entropy, rng.random((4096, 1000)).astype(np.float32),
                                    rng.integers(0, 1000, 4096)),
        "log_softmax 4096x1000": (None, logits(4096, 1000), None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    isas = list(_core.supported_isas())
    default = _core.selected_isa()
    print(f"default path: {default}; paths: {', '.join(isas)}; threads={args.threads}")
    rng = np.random.default_rng(0)
    for name, (function, first, second) in cases(rng).items():
        out = np.empty_like(first)
        if function is None:
            def call():
                fusedloss.log_softmax(first, out=out, threads=args.threads)
        else:
            def call():
                function(first, second, return_grad=True, out=out, threads=args.threads)
        times = {isa: [] for isa in isas}
        for round_ in range(args.repeats):
            for isa in (isas if round_ % 2 else isas[::-1]):
                _core.select_isa(isa)
                call()  # warm: the arrays in cache as the timed call will find them
                start = time.perf_counter()
                call()
                times[isa].append(time.perf_counter() - start)
        _core.select_isa(default)
        medians = {isa: float(np.median(t)) * 1e3 for isa, t in times.items()}
        fastest = min(medians, key=medians.get)
        cells = "  ".join(f"{isa} {ms:7.3f} ms" for isa, ms in medians.items())
        flag = "" if medians[default] <= 1.03 * medians[fastest] else f"  <- {fastest} faster than the default"
        print(f"{name:40s} {cells}  {default}/{fastest}: {medians[default] / medians[fastest]:.2f}{flag}")


if __name__ == "__main__":
    main()
