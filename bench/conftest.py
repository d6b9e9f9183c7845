"""pytest configuration of the benchmark suite (``bench/``).

Run from the repository root (the root ``pyproject.toml`` config applies: strict markers,
warnings as errors; its ``testpaths`` only names ``tests/``, so pass ``bench`` explicitly)::

    python -m pytest bench --benchmark-disable   # every case once, correctness only (fast)
    python -m pytest bench -q --benchmark-min-rounds=3 --benchmark-max-time=0.2
    python -m pytest bench                         # full pytest-benchmark defaults (slower)

With benchmarks enabled, each case records the min/mean time of each implementation in the
session-wide ``timings`` dict, and the fusedloss test of a case checks its speedup over the
NumPy baseline of the same case (see ``SPEEDUP_FLOORS`` in ``test_bench_losses.py``).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

# Must be set before the extension (and so libgomp) is loaded. With the default passive wait,
# the sleeping OpenMP worker was measured to take one or two scheduler ticks (~4 / ~8 ms) to
# wake on the shared 2-core VM once a run has gone on for a while, turning 0.1 ms kernels into
# 8 ms ones and failing the speedup floors; spinning workers time the kernels themselves.
os.environ.setdefault("OMP_WAIT_POLICY", "active")

import pytest  # noqa: E402

import fusedloss  # noqa: E402

Key = Tuple[str, Tuple[int, ...], str]


def pytest_report_header(config: pytest.Config) -> str:
    info = fusedloss.config()
    return (
        f"fusedloss {info['version']}: backend={info['backend']}, "
        f"isa={info.get('isa_selected', '-')}, openmp_threads={info.get('openmp_threads', '-')}"
    )


@pytest.fixture(scope="session")
def timings() -> Dict[Key, Dict[str, Dict[str, float]]]:
    """``{(loss, shape, dtype): {impl: {"min": seconds, "mean": seconds}}}`` for the session."""
    return {}


_OPTION_OVERHEADS: List[Tuple[str, str, str, float, float]] = []


@pytest.fixture(scope="session")
def option_overheads() -> List[Tuple[str, str, str, float, float]]:
    """``(loss, shape, option, ratio to the plain loss, ceiling)`` measured in this session."""
    return _OPTION_OVERHEADS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _OPTION_OVERHEADS:
        return
    terminalreporter.section("option overhead over the plain loss (ratio of interleaved medians)")
    for loss, shape, option, ratio, ceiling in _OPTION_OVERHEADS:
        flag = "  OVER CEILING" if ratio > ceiling else ("  over 10% target" if ratio > 1.10 else "")
        terminalreporter.write_line(f"{loss:30} {shape:10} {option:16} {ratio:6.2f}x  (ceiling {ceiling:.2f}x){flag}")


@pytest.fixture(scope="session", autouse=True)
def _native_backend():
    """The benchmarks time the compiled kernels: make sure they are the active backend."""
    if fusedloss.get_backend() != "native":
        pytest.skip("the compiled fusedloss extension is not available")
    yield
