"""The machinery of ``fusedloss bench``: the parallel copy floor and the option cases."""

from __future__ import annotations

import numpy as np
import pytest

from fusedloss import _benchmark, _core


@pytest.mark.parametrize("threads", [0, 1, 2, 3, 7])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 1000, 100_003, 1_000_003])
def test_parallel_copy_copies_every_byte(threads, size):
    source = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    destination = np.full(size, np.nan, dtype=np.float32)
    _core.parallel_copy(source, destination, threads)
    assert destination.tobytes() == source.tobytes()


def test_parallel_copy_takes_any_dtypes_of_equal_byte_count():
    source = np.arange(12, dtype=np.float64).reshape(3, 4)
    destination = np.zeros(24, dtype=np.float32)
    _core.parallel_copy(source, destination)
    assert destination.tobytes() == source.tobytes()


def test_parallel_copy_rejects_bad_arguments():
    source = np.zeros(8)
    with pytest.raises(ValueError, match="source has 64 bytes, destination 56"):
        _core.parallel_copy(source, np.zeros(7))
    with pytest.raises(ValueError, match="source must be C-contiguous"):
        _core.parallel_copy(np.zeros(16)[::2], np.zeros(8))
    with pytest.raises(ValueError, match="destination must be a writable C-contiguous"):
        _core.parallel_copy(source, np.zeros(16)[::2])
    read_only = np.zeros(8)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="destination must be a writable"):
        _core.parallel_copy(source, read_only)
    with pytest.raises(ValueError, match="threads must be >= 0"):
        _core.parallel_copy(source, np.zeros(8), -1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "option"), [
    (loss, option) for loss, options in _benchmark.OPTIONS.items() for option in ("plain",) + options
])
def test_every_option_case_is_checked_against_the_reference(loss, option, dtype):
    shape = (40,) if loss == "mean_squared_error" else (40, 7)
    case = _benchmark.make_case(loss, shape, dtype, option)
    fused = _benchmark.fused_call(loss, case.x, case.y, **case.kwargs)
    _benchmark.check_case(case, fused)
    _benchmark.check_case(case, fused, rows=16)  # the prefix check used for the 1 GiB shapes
    # a wrong gradient is caught
    wrong = (fused[0], fused[1] * 1.01) + tuple(fused[2:])
    with pytest.raises(AssertionError, match="gradient differs"):
        _benchmark.check_case(case, wrong)


def test_run_benchmarks_rows_and_raw_timings():
    raw, notes = [], []
    rows = _benchmark.run_benchmarks(["softmax_cross_entropy"], shapes=[(32, 5)], threads=[1, 2],
                                     repeats=3, peers=False, raw=raw, notes=notes)
    assert [(r["shape"], r["threads"]) for r in rows] == [([32, 5], 1), ([32, 5], 2)]
    assert {t["contender"] for t in raw} == {"numpy", "copyto", "fusedloss@1", "copy@1", "fusedloss@2", "copy@2"}
    assert all(len(t["times_s"]) == 3 for t in raw)
    row = rows[0]
    assert row["bytes"] == 32 * 5 * 4 * 2 + 32 * 8  # logits read, gradient written, labels read
    assert row["gb_per_s"] == pytest.approx(row["bytes"] / row["fusedloss_ms"] / 1e6)
    assert row["torch_ms"] is None and row["speedup_vs_fastest_peer"] == pytest.approx(
        row["numpy_ms"] / row["fusedloss_ms"])


def test_run_benchmarks_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown loss 'bogus'"):
        _benchmark.run_benchmarks(["bogus"])
    with pytest.raises(ValueError, match="threads must be positive ints"):
        _benchmark.run_benchmarks(["softmax_cross_entropy"], threads=[0])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        _benchmark.run_benchmarks(["softmax_cross_entropy"], repeats=0)


def test_large_shapes_are_skipped_when_memory_is_short(monkeypatch):
    monkeypatch.setattr(_benchmark, "available_memory", lambda: 2**30)
    monkeypatch.setattr(_benchmark, "SHAPES", {**_benchmark.SHAPES, "mean_squared_error": [(100,)]})
    notes = []
    rows = _benchmark.run_benchmarks(["mean_squared_error"], large=True, repeats=1, peers=False, notes=notes)
    assert [r["shape"] for r in rows] == [[100]]
    assert any("268435456: skipped" in note and "GiB available" in note for note in notes)
