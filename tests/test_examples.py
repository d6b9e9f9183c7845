"""The scripts in examples/ run and print what their docstrings (and the README) claim."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/ is not next to the tests")


def _run(name: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stderr == "", result.stderr  # no warnings either
    return result.stdout


def _gradient_descent_float64(epochs: int, lr: float = 0.01) -> Tuple[List[Tuple[int, float, float, float]], float, float]:
    """The same iteration in float64 with plain NumPy: loss before each step, w and b after it."""
    x = np.arange(1, 16, dtype=np.float64)
    y = 1.04 * x - 0.1
    w = b = 0.0
    rows = []
    for epoch in range(1, epochs + 1):
        residual = w * x + b - y
        loss = float(np.mean(residual ** 2))
        w -= lr * float(np.mean(2.0 * residual * x))
        b -= lr * float(np.mean(2.0 * residual))
        if epoch == 1 or epoch % 1000 == 0:
            rows.append((epoch, loss, w, b))
    return rows, w, b


def test_linear_regression_reaches_the_textbook_line() -> None:
    out = _run("linear_regression.py")
    table = [tuple(float(v) for v in line.split()) for line in out.splitlines()
             if re.fullmatch(r"\s*\d+(\s+-?[\d.e+-]+){3}\s*", line)]
    final = re.search(r"final: w = (-?[\d.]+), b = (-?[\d.]+)", out)
    assert final, out
    w, b = float(final.group(1)), float(final.group(2))
    reference_rows, w64, b64 = _gradient_descent_float64(10000)
    assert [int(row[0]) for row in table] == [row[0] for row in reference_rows], out
    for (epoch, loss, w_e, b_e), (_, loss64, w_e64, b_e64) in zip(table, reference_rows):
        # float32 arithmetic against the float64 iteration: the printed 6-8 decimals agree
        # up to float32 rounding accumulated over the epochs.
        assert loss == pytest.approx(loss64, rel=1e-4, abs=2e-6), (epoch, out)
        assert w_e == pytest.approx(w_e64, abs=1e-5), (epoch, out)
        assert b_e == pytest.approx(b_e64, abs=5e-5), (epoch, out)
    assert w == pytest.approx(w64, abs=1e-5) and b == pytest.approx(b64, abs=5e-5)
    # ...and the fit is the line the data came from.
    assert w == pytest.approx(1.04, abs=1e-4) and b == pytest.approx(-0.1, abs=1e-3)


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="scikit-learn is not installed (pip install fusedloss[examples])")
def test_digits_classifiers() -> None:
    out = _run("digits_classifiers.py")
    initial = dict(re.findall(r"(\w+): initial loss ([\d.]+)", out))
    accuracy = dict(re.findall(r"(\w+): final train objective [\d.]+, test accuracy ([\d.]+)%", out))
    assert set(initial) == set(accuracy) == {"softmax", "svm"}, out
    # Zero weights: every score equal, so log C and C - 1 (margin 1), C = 10.
    assert float(initial["softmax"]) == pytest.approx(math.log(10), abs=1e-4), out
    assert float(initial["svm"]) == pytest.approx(9.0, abs=1e-4), out
    for name in ("softmax", "svm"):
        assert float(accuracy[name]) >= 93.0, out


def test_linear_cross_entropy_head_trains_in_fixed_memory(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    result = subprocess.run([sys.executable, str(EXAMPLES / "linear_cross_entropy_head.py"), "--steps", "12",
                             "--plot", str(plot)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    out = result.stdout
    final = re.search(r"final loss: ([\d.]+) \(from ([\d.]+)\)", out)
    assert final, out
    assert float(final.group(2)) == pytest.approx(math.log(32768), abs=1e-3)
    assert float(final.group(1)) < 0.5 * float(final.group(2)), out
    peak = re.search(r"peak extra memory of a step: ([\d.]+) MiB \(logits: (\d+) MiB", out)
    assert peak, out
    assert float(peak.group(1)) <= float(peak.group(2)) / 16, out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
