"""Streaming stores: outputs of at least ``_core.streaming_threshold()`` bytes (32 MiB) are
written with non-temporal stores, whole cache lines at a time, the partial lines at either end
(and the label's line of a softmax gradient) as usual (kernels/low_precision.inl,
``streams_output``). A streamed output must be the same bits as one stored as usual, and the
loss must not move at all: each case runs with the threshold at 0 (every output streams) and
at its maximum (none does), on every ISA, every loss of the registry in every dtype, with its
options, outputs off a cache line, out= the input, per-element losses, Hessians and threads.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusedloss import _core
from fusedloss._bench.cases import OPTIONS, SHAPE_KINDS, SHAPES, elementwise_entry, fused_call, make_case

LOSSES = sorted(SHAPES)
DTYPES = ("float32", "float64", "bfloat16", "float16")
NEVER = 2 ** 62


@pytest.fixture
def threshold():
    """Sets the streaming threshold for the test; restores the default afterwards."""
    default = _core.streaming_threshold()
    yield _core.set_streaming_threshold
    _core.set_streaming_threshold(default)


def _shapes(loss):
    if SHAPE_KINDS[loss] == "ELEMENTS":
        return [(3001,), (517,)]  # a short last tile; a single partial tile
    shapes = [(67, 37), (5, 1000)]  # lines of the row split at every row; tiles of the hinge
    if loss in ("softmax_cross_entropy", "multiclass_hinge"):
        shapes.append((3, 40_000))  # the long rows (softmax-CE), several hinge tiles
    return shapes


def _bits(values):
    """Each result as bytes (a scalar loss, the gradient, ...)."""
    return [np.ascontiguousarray(np.asarray(v)).tobytes() for v in values]


def _misaligned_empty(like):
    """An array shaped like ``like`` whose first element is one element past a 64-byte line."""
    itemsize = like.dtype.itemsize
    buffer = np.empty(like.size + 64, like.dtype)
    start = (-buffer.ctypes.data % 64) // itemsize + 1
    out = buffer[start:start + like.size].reshape(like.shape)
    assert out.ctypes.data % 64 == itemsize
    return out


def _calls(case):
    """The calls to compare, each a function of nothing returning a list of arrays."""
    loss, x, y, kwargs = case.loss, case.x, case.y, case.kwargs

    def plain():
        return list(fused_call(loss, x, y, **kwargs))

    def off_line():
        out = _misaligned_empty(x)
        result = list(fused_call(loss, x, y, out=out, **kwargs))
        return result + [out]

    def in_place():
        copy = x.copy()
        return list(fused_call(loss, copy, y, out=copy, **kwargs)) + [copy]

    def two_threads():
        return list(fused_call(loss, x, y, threads=2, **kwargs))

    calls = {"plain": plain, "off_line": off_line, "in_place": in_place, "two_threads": two_threads}
    if elementwise_entry(loss) is not None:
        entry = elementwise_entry(loss)
        calls["per_element"] = lambda: list(entry.function(x, y, reduction="none", return_grad=True))
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
def test_streamed_outputs_are_the_stored_bits(isa, threshold, loss, dtype):
    mismatches = []
    for shape in _shapes(loss):
        for option in ("plain",) + OPTIONS.get(loss, ()):
            case = make_case(loss, shape, dtype, option)
            for name, call in _calls(case).items():
                threshold(NEVER)
                stored = _bits(call())
                threshold(0)
                streamed = _bits(call())
                if stored != streamed:
                    mismatches.append(f"{shape} {option} {name}")
    assert not mismatches, f"{loss} {dtype} on {isa}: streamed != stored in {mismatches}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "multiclass_hinge", "mean_squared_error",
                                  "softmax_focal_loss", "softmax_kl_divergence", "sigmoid_focal_loss"])
def test_streamed_hessians_are_the_stored_bits(isa, threshold, loss, dtype):
    for shape in _shapes(loss)[:2]:
        case = make_case(loss, shape, dtype)
        results = []
        for value in (NEVER, 0):
            threshold(value)
            results.append(_bits(fused_call(loss, case.x, case.y, return_hessian=True, **case.kwargs)))
        assert results[0] == results[1], f"{loss} {dtype} {shape} on {isa}"


@pytest.mark.parametrize("loss, shape, dtype", [
    ("softmax_cross_entropy", (2048, 4100), "float32"),
    ("softmax_cross_entropy", (4096, 4100), "bfloat16"),
    ("multiclass_hinge", (4096, 4100), "float16"),
    ("softmax_focal_loss", (4096, 4100), "bfloat16"),
])
def test_outputs_past_the_default_threshold(threshold, loss, shape, dtype):
    """The default threshold itself (32 MiB): a gradient just above it streams, with the bits of
    the stored one (its own partial lines and threads included)."""
    case = make_case(loss, shape, dtype)
    assert case.x.nbytes >= _core.streaming_threshold() == 32 * 2 ** 20
    default = _bits(fused_call(loss, case.x, case.y, threads=2, **case.kwargs))
    threshold(NEVER)
    stored = _bits(fused_call(loss, case.x, case.y, threads=1, **case.kwargs))
    assert default == stored


def test_threshold_is_validated(threshold):
    threshold(12345)
    assert _core.streaming_threshold() == 12345
    with pytest.raises(ValueError, match="bytes must be >= 0, got -1"):
        _core.set_streaming_threshold(-1)
    assert _core.streaming_threshold() == 12345


def test_bench_script_measures_both_ways():
    """bench/streaming_stores.py (the figures of docs/performance-notes.md) runs, and leaves the
    threshold as it found it. (Its source tree only: the wheel's test run has no bench/.)"""
    script = Path(__file__).resolve().parents[1] / "bench" / "streaming_stores.py"
    if not script.exists():
        pytest.skip("bench/ is not next to this tests/ (an installed wheel's test run)")
    before = _core.streaming_threshold()
    completed = subprocess.run(
        [sys.executable, str(script), "--case", "softmax_cross_entropy:64x1000:bfloat16", "--repeats", "2"],
        capture_output=True, text=True, timeout=120, check=True)
    assert "streaming from 32 MiB" in completed.stdout
    assert re.search(r"softmax_cross_entropy\s+64x1000\s+bfloat16\s+stored\s+[\d.]+ ms\s+streamed\s+[\d.]+ ms"
                     r"\s+on/off [\d.]+", completed.stdout), completed.stdout
    assert _core.streaming_threshold() == before
