"""The compute floor of the compute-heavy kernels: their time per element with the data in
cache, next to their time from memory and to a copy of the bytes they move (issues 20 and 22).

    python bench/compute_floor.py [--threads 1] [--repeats 7]

A kernel that reads and writes memory once cannot run faster than the larger of its arithmetic
(measured here in cache: 128 rows of 1000 classes, or 128,000 elements, each array 0.5 MiB in
float32, called back to back) and the copy of its bytes (measured here: ``np.copyto`` of the
first argument from memory, times the arrays moved over two -- a copy reads one and writes one).
Where the in-cache time alone is above 2x the copy, a "<= 2x the copy" target cannot be met by
overlapping memory and arithmetic better: only by less arithmetic per element.
"""

from __future__ import annotations

import argparse
import time

import ml_dtypes
import numpy as np

import fusedloss

BF16 = np.dtype(ml_dtypes.bfloat16)


def median_seconds(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    threads, repeats = options.threads, options.repeats
    rng = np.random.default_rng(0)
    rows, classes, large_rows = 128, 1000, 262144  # large: 1 GiB of float32

    def rows_of(dtype, count):
        return (rng.standard_normal((count, classes)) * 3).astype(dtype)

    def case(name, dtype, make, call, arrays_moved):
        small = make(dtype, rows)
        calls = 100
        in_cache = median_seconds(lambda: [call(*small) for _ in range(calls)], repeats) / calls
        in_cache /= small[0].size
        large = make(dtype, large_rows)
        from_memory = median_seconds(lambda: call(*large), max(3, repeats // 2)) / large[0].size
        destination = np.empty_like(large[0])
        copy = median_seconds(lambda: np.copyto(destination, large[0]), repeats) / large[0].size
        floor = copy * arrays_moved / 2
        print(f"{name:24s} {np.dtype(dtype).name:9s} {in_cache * 1e9:8.3f} {from_memory * 1e9:8.3f} "
              f"{floor * 1e9:8.3f} {in_cache / floor:8.2f} {from_memory / floor:8.2f}", flush=True)
        del large, destination

    def labelled(dtype, count):
        return (rows_of(dtype, count), rng.integers(0, classes, count), np.empty((count, classes), dtype))

    def paired(dtype, count):
        return (rows_of(dtype, count), rows_of(dtype, count), np.empty((count, classes), dtype))

    def targets(dtype, count):
        x = rows_of(dtype, count).reshape(-1)
        return (x, (rng.random(x.size) < 0.3).astype(dtype), np.empty_like(x))

    print(f"ns per element, {threads} thread(s); floor = copy of the bytes moved; ratios to it")
    print(f"{'loss':24s} {'dtype':9s} {'cache':>8s} {'memory':>8s} {'floor':>8s} {'cache/f':>8s} {'memory/f':>8s}")
    for dtype in (np.dtype(np.float32), BF16):
        case("softmax_cross_entropy", dtype, labelled,
             lambda x, y, o: fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=o, threads=threads), 2)
        case("multiclass_hinge", dtype, labelled,
             lambda x, y, o: fusedloss.multiclass_hinge(x, y, return_grad=True, out=o, threads=threads), 2)
        case("softmax_kl_divergence", dtype, paired,
             lambda x, t, o: fusedloss.softmax_kl_divergence(x, t, return_grad=True, out=o, threads=threads), 3)
        case("sigmoid_focal_loss", dtype, targets,
             lambda x, t, o: fusedloss.sigmoid_focal_loss(x, t, return_grad=True, out=o, threads=threads), 3)
        case("mean_squared_error", dtype, targets,
             lambda x, t, o: fusedloss.mean_squared_error(x, t, return_grad=True, out=o, threads=threads), 3)


if __name__ == "__main__":
    main()
