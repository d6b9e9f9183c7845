"""The core correctness suite runs on every SIMD path this CPU supports (issue 16 item 3).

`conftest.py` gives every test of `CORE_CORRECTNESS_MODULES` the `isa` fixture, which asserts
that its path is selected before and after the test. These tests check the wiring: that every
collected test of those modules is parametrised over every supported path, and that the
supported paths are the ones the CPU has.
"""

from __future__ import annotations

import collections
import pathlib
import sys

import pytest

from fusedloss import _core
from conftest import CORE_CORRECTNESS_MODULES, SUPPORTED_ISAS

TESTS = pathlib.Path(__file__).parent


def test_core_modules_exist():
    missing = sorted(name for name in CORE_CORRECTNESS_MODULES if not (TESTS / name).exists())
    assert not missing, f"CORE_CORRECTNESS_MODULES names files that are gone: {missing}"


def test_every_collected_core_test_runs_on_every_isa(request):
    """Each core test function (all its other parameters alike) is collected once per ISA,
    except those marked `isa_independent`."""
    seen = collections.defaultdict(set)
    for item in request.session.items:
        if item.path.name not in CORE_CORRECTNESS_MODULES:
            continue
        if item.get_closest_marker("isa_independent") is not None:
            continue  # a validation error raised before any kernel runs: the widest path only
        assert "isa" in item.fixturenames, f"{item.nodeid} does not use the isa fixture"
        params = dict(item.callspec.params)
        isa = params.pop("isa")
        key = (item.path.name, item.originalname, repr(sorted(params.items(), key=str)))
        seen[key].add(isa)
    for key, isas in seen.items():
        assert isas == set(SUPPORTED_ISAS), f"{key} ran on {sorted(isas)} only"


def test_each_isa_is_selectable_and_reported():
    for name in SUPPORTED_ISAS:
        _core.select_isa(name)
        assert _core.selected_isa() == name
    assert _core.selected_isa() == SUPPORTED_ISAS[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_supported_isas_are_what_the_cpu_has():
    flags = set()
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not flags:
        pytest.skip("no x86 flags in /proc/cpuinfo")
    assert "baseline" in SUPPORTED_ISAS
    has_avx2 = {"avx2", "fma"} <= flags
    has_avx512 = has_avx2 and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags
    assert ("avx2" in SUPPORTED_ISAS) == has_avx2
    assert ("avx512" in SUPPORTED_ISAS) == has_avx512
