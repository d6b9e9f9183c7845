"""The machinery of ``fusedloss bench``: the parallel copy floor and the option cases."""

from __future__ import annotations

import numpy as np
import pytest

from fusedloss import _core
from fusedloss._bench import runner
from fusedloss._regression import ELEMENTWISE_LOSSES


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
    (loss, option) for loss, options in runner.OPTIONS.items() for option in ("plain",) + options
])
def test_every_option_case_is_checked_against_the_reference(loss, option, dtype):
    shape = (40,) if loss in ELEMENTWISE_LOSSES else (40, 7)
    case = runner.make_case(loss, shape, dtype, option)
    fused = runner.fused_call(loss, case.x, case.y, **case.kwargs)
    runner.check_case(case, fused)
    runner.check_case(case, fused, rows=16)  # the prefix check used for the 1 GiB shapes
    # a wrong gradient is caught
    wrong = (fused[0], fused[1] * 1.01) + tuple(fused[2:])
    with pytest.raises(AssertionError, match="gradient differs"):
        runner.check_case(case, wrong)


def test_run_benchmarks_rows_and_raw_timings():
    raw, notes = [], []
    rows = runner.run_benchmarks(["softmax_cross_entropy"], shapes=[(32, 5)], threads=[1, 2],
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
        runner.run_benchmarks(["bogus"])
    with pytest.raises(ValueError, match="threads must be positive ints"):
        runner.run_benchmarks(["softmax_cross_entropy"], threads=[0])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        runner.run_benchmarks(["softmax_cross_entropy"], repeats=0)


def test_large_shapes_are_skipped_when_memory_is_short(monkeypatch):
    monkeypatch.setattr(runner, "available_memory", lambda: 2**30)
    monkeypatch.setattr(runner, "SHAPES", {**runner.SHAPES, "mean_squared_error": [(100,)]})
    notes = []
    rows = runner.run_benchmarks(["mean_squared_error"], large=True, repeats=1, peers=False, notes=notes)
    assert [r["shape"] for r in rows] == [[100]]
    assert any("268435456: skipped" in note and "GiB available" in note for note in notes)


def test_import_fusedloss_leaves_the_bench_tooling_out():
    """The bench tooling (fusedloss._bench) is not on the import path of ``import fusedloss``;
    the CLI imports it when it runs ``bench``."""
    import subprocess
    import sys

    code = ("import sys, fusedloss; "
            "print(sorted(m for m in sys.modules if m.startswith('fusedloss._bench') "
            "or m in ('torch', 'jax', 'optax', 'fusedloss.cli')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize("loss", list(ELEMENTWISE_LOSSES))
def test_every_elementwise_loss_has_bench_cases(loss):
    entry = ELEMENTWISE_LOSSES[loss]
    assert loss in runner.LOSSES and runner.SHAPES[loss] and runner.LARGE_SHAPES[loss]
    # (sigmoid BCE is also timed at (rows, classes) shapes, for its per-class weights)
    assert "sample_weight" in runner.OPTIONS[loss] and runner.SHAPE_KINDS[loss].startswith("ELEMENTS")
    case = runner.make_case(loss, (1000,), np.float32)
    domain = entry.domain(*entry.defaults()) if entry.domain is not None else None
    assert domain is None or domain[1](case.y).all()
    fused = runner.fused_call(loss, case.x, case.y)
    runner.check_case(case, fused)
    torch = runner._import_torch()
    if torch is not None and entry.torch is not None:
        value, grad = runner.torch_call(torch, case)()
        assert runner.check_peer("torch", case, fused, value.item(), grad.numpy()) is None


def test_a_new_elementwise_loss_gets_bench_rows_without_an_edit():
    """Registering a loss (here an L1 twin on the mean_absolute_error kernel) is all it takes."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        from fusedloss import _reference, _regression
        from fusedloss._regression import ElementwiseLoss, elementwise_loss

        @elementwise_loss(ElementwiseLoss("l1_twin", "pred", _reference.absolute_error_terms,
                                          kernel=lambda: "mean_absolute_error"))
        def l1_twin(pred, target, *, sample_weight=None, reduction="mean", return_grad=False,
                    return_hessian=False, out=None, threads=None):
            raise AssertionError

        from fusedloss._bench import runner
        assert runner.SHAPES["l1_twin"] == runner.SHAPES["mean_squared_error"]
        rows = runner.run_benchmarks(["l1_twin"], shapes=[(1000,)], threads=[1], repeats=1, peers=False)
        rows += runner.run_benchmarks(["l1_twin"], shapes=[(1000,)], threads=[1], repeats=1, options=True)
        print(sorted((r["loss"], r["option"]) for r in rows))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('l1_twin', 'plain'), ('l1_twin', 'plain'), ('l1_twin', 'sample_weight')]"


@pytest.mark.isa_independent
@pytest.mark.skipif(not __import__("os").path.exists("/proc/loadavg"), reason="settle() reads /proc/loadavg (Linux)")
def test_settle_waits_while_another_thread_runs():
    """A timed call starts only once the previous contender's threads have stopped (PyTorch's
    OpenMP workers spin for ms after its calls): with a process spinning beside it, settle()
    waits its whole limit; the limit bounds it."""
    import subprocess
    import sys
    import time

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # (started and running)
        start = time.perf_counter()
        runner.settle()
        waited = time.perf_counter() - start
    finally:
        spinner.kill()
        spinner.wait()
    assert runner.SETTLE_LIMIT * 0.9 <= waited < runner.SETTLE_LIMIT + 1.0
