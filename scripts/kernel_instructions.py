"""Instructions per call inside the extension, counted by callgrind (repeatable on a noisy machine).

    python scripts/kernel_instructions.py [case ...]      # cases: sce10 sce1k bce lsm (default: all)

Runs each case's call 20 times under ``valgrind --tool=callgrind`` on the AVX2 path (valgrind
does not run AVX-512 code), sums the instructions spent in ``_core`` and divides by 20. Used for
the before/after figures of kernel changes (issue 16's -ffp-contract=off, issue 17's BCE log1p):
run it on both builds. PYTHONHASHSEED is fixed so that Python's own work repeats exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

CALLS = 20
CASES = {
    "sce10": "fusedloss.softmax_cross_entropy(*sce10, return_grad=True, out=g10, threads=1)",
    "sce1k": "fusedloss.softmax_cross_entropy(*sce1k, return_grad=True, out=g1k, threads=1)",
    "bce": "fusedloss.sigmoid_binary_cross_entropy(*bce, return_grad=True, out=gb, threads=1)",
    "lsm": "fusedloss.log_softmax(sce1k[0], threads=1)",
}
SETUP = """
import numpy as np, fusedloss
rng = np.random.default_rng(0)
sce10 = (rng.standard_normal((8192, 10)).astype(np.float32), rng.integers(0, 10, 8192))
sce1k = (rng.standard_normal((256, 1000)).astype(np.float32), rng.integers(0, 1000, 256))
bce = (rng.standard_normal(100000).astype(np.float32), rng.random(100000).astype(np.float32))
g10, g1k, gb = np.empty_like(sce10[0]), np.empty_like(sce1k[0]), np.empty_like(bce[0])
"""


def instructions(case: str) -> int:
    code = SETUP + f"for _ in range({CALLS}):\n    {CASES[case]}\n"
    env = dict(os.environ, FUSEDLOSS_ISA="avx2", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        sys.executable, "-c", code], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = subprocess.run(["callgrind_annotate", "--threshold=100", out], check=True,
                                capture_output=True, text=True).stdout
    total = 0
    for line in report.splitlines():
        if "_core.cpython" in line:
            match = re.match(r"\s*([\d,]+)", line)
            if match:
                total += int(match.group(1).replace(",", ""))
    return total // CALLS


if __name__ == "__main__":
    for name in sys.argv[1:] or list(CASES):
        print(f"{name:6s} {instructions(name):>12,d} instructions per call in _core (avx2)")
