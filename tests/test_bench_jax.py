"""The JAX peer of ``fusedloss bench``: one worker process per thread count
(``fusedloss._bench.jax_peer``), its result checked against fusedloss's, and every way it can be
absent or fail (a note and a "-" column, never a crash)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pytest

from fusedloss._bench import jax_peer, runner

HAVE_JAX = all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


def bench(losses=("softmax_cross_entropy",), shapes=((64, 10),), threads=(1, 2), repeats=2):
    notes, raw = [], []
    rows = runner.run_benchmarks(list(losses), shapes=list(shapes), threads=list(threads),
                                     repeats=repeats, raw=raw, notes=notes)
    return rows, raw, notes


@pytest.fixture
def no_torch(monkeypatch):
    """PyTorch left out: these tests are about JAX (and torch.set_num_threads is process-wide)."""
    monkeypatch.setattr(runner, "_import_torch", lambda: None)


@pytest.fixture
def fake_worker(monkeypatch, tmp_path, no_torch):
    """Point the bench at a worker script written by the test (jax is not needed for these)."""
    monkeypatch.setattr(runner, "_jax_available", lambda: True)

    def install(body: str) -> None:
        script = tmp_path / "worker.py"
        script.write_text(textwrap.dedent(body))
        monkeypatch.setattr(runner, "JAX_PEER_COMMAND", [sys.executable, str(script)])

    return install


PREAMBLE = """
    import json, os, sys
    import numpy as np
    def say(message):
        print(json.dumps(message), flush=True)
"""


def test_jax_missing_means_no_worker_and_a_dash(monkeypatch, no_torch):
    monkeypatch.setitem(sys.modules, "jax", None)  # as if jax were not installed
    assert runner._jax_available() is False

    def no_worker(*args, **kwargs):
        raise AssertionError("a JAX worker was started although jax is missing")

    monkeypatch.setattr(jax_peer, "JaxPeer", no_worker)
    rows, raw, notes = bench()
    assert [r["threads"] for r in rows] == [1, 2]
    assert all(r["jax_ms"] is None for r in rows)
    assert "jax/optax not importable: no JAX column" in notes
    assert not any(t["contender"].startswith("jax") for t in raw)
    for line in runner.format_table(rows).splitlines()[2:]:
        assert line.split()[6:8] == ["-", "-"]  # the torch and JAX columns


def test_worker_that_cannot_start_gives_a_note(fake_worker):
    fake_worker(PREAMBLE + """
    print("jax is broken here", file=sys.stderr)
    sys.exit(3)
    """)
    rows, raw, notes = bench()
    assert all(r["jax_ms"] is None and r["fusedloss_ms"] > 0 for r in rows)
    started = [n for n in notes if "failed to start" in n]
    assert len(started) == 2, notes  # one per thread count
    assert "exit code 3" in started[0] and "jax is broken here" in started[0]


def test_worker_that_dies_on_a_case_gives_a_note_and_the_next_cases_still_run(fake_worker):
    fake_worker(PREAMBLE + """
    say({"ok": True, "jax": "0", "optax": "0", "pjrt_nproc": os.environ["PJRT_NPROC"]})
    sys.stdin.readline()
    sys.exit(4)
    """)
    rows, raw, notes = bench(losses=("softmax_cross_entropy", "multiclass_hinge"))
    assert len(rows) == 4 and all(r["jax_ms"] is None for r in rows)
    failed = [n for n in notes if "failed at softmax_cross_entropy 64x10" in n]
    assert len(failed) == 2 and "exit code 4" in failed[0], notes


def test_worker_that_hangs_times_out(fake_worker, monkeypatch):
    monkeypatch.setattr(jax_peer, "CASE_TIMEOUT", 1.0)
    monkeypatch.setattr(jax_peer, "CLOSE_TIMEOUT", 0.2)  # then killed
    fake_worker(PREAMBLE + """
    import time
    say({"ok": True, "jax": "0", "optax": "0", "pjrt_nproc": os.environ["PJRT_NPROC"]})
    sys.stdin.readline()
    time.sleep(60)
    """)
    rows, raw, notes = bench(threads=(1,))
    assert rows[0]["jax_ms"] is None
    assert any("no answer in 1 s" in n for n in notes), notes


def test_wrong_jax_result_is_not_timed(fake_worker):
    fake_worker(PREAMBLE + """
    say({"ok": True, "jax": "0", "optax": "0", "pjrt_nproc": os.environ["PJRT_NPROC"]})
    for line in sys.stdin:
        message = json.loads(line)
        if message["cmd"] == "quit":
            break
        if message["cmd"] == "case":
            np.save(message["grad_path"], np.zeros(message["shape"], np.float32))
            say({"ok": True, "value": 2.3})
        else:
            say({"ok": True, "seconds": 0.001, "cores": 1.0})
    """)
    rows, raw, notes = bench(threads=(2,))
    assert rows[0]["jax_ms"] is None
    assert any("JAX (2 thread(s)) result differs from fusedloss's" in n for n in notes), notes


RIGHT_WORKER = PREAMBLE + """
    from fusedloss._bench.cases import fused_call, make_case
    threads = int(os.environ["PJRT_NPROC"])
    say({"ok": True, "jax": "0", "optax": "0", "pjrt_nproc": str(threads)})
    for line in sys.stdin:
        message = json.loads(line)
        if message["cmd"] == "quit":
            break
        if message["cmd"] == "case":
            case = make_case(message["loss"], tuple(message["shape"]), message["dtype"])
            value, grad = fused_call(case.loss, case.x, case.y)
            np.save(message["grad_path"], grad)
            say({"ok": True, "value": float(value)})
        elif message["cmd"] == "run":
            say({"ok": True, "seconds": 0.001 * threads})  # 1 ms on 1 thread, 2 ms on 2
        else:
            say({"ok": True, "cores": 0.9 * threads, "busy_threads": None})
"""


def test_worker_times_are_taken_per_thread_count_in_the_rounds(fake_worker):
    fake_worker(RIGHT_WORKER)
    rows, raw, notes = bench(repeats=3)
    assert [r["jax_ms"] for r in rows] == [pytest.approx(1.0), pytest.approx(2.0)]
    for row in rows:
        fastest = min(v for v in (row["numpy_ms"], row["torch_ms"], row["jax_ms"]) if v is not None)
        assert row["speedup_vs_fastest_peer"] == pytest.approx(fastest / row["fusedloss_ms"])
    timings = {t["contender"]: t for t in raw}
    assert timings["jax@1"]["times_s"] == [0.001] * 3 and timings["jax@2"]["times_s"] == [0.002] * 3
    assert timings["jax@2"]["cores"] == pytest.approx(1.8)
    assert not any("JAX" in n for n in notes), notes


def test_crammer_singer_reference_known_values_and_finite_differences():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    value, grad = jax_peer.crammer_singer(scores, labels, block=2)  # blocks of 2 rows: 2 + 1
    assert value == pytest.approx((2.9 + 0.0 + 6.6) / 3)
    step = 1e-6
    for i in range(3):
        for j in range(3):
            plus, minus = scores.copy(), scores.copy()
            plus[i, j] += step
            minus[i, j] -= step
            numeric = (jax_peer.crammer_singer(plus, labels)[0] - jax_peer.crammer_singer(minus, labels)[0]) / (2 * step)
            assert grad[i, j] == pytest.approx(numeric, abs=1e-6)
    # a tie of the max shares the gradient, as JAX's max does
    value, grad = jax_peer.crammer_singer(np.zeros((1, 3)), np.array([0]))
    assert value == 1.0 and grad.tolist() == [[-1.0, 0.5, 0.5]]
    # rows: the gradient of the mean over all rows, on the first rows only
    _, first = jax_peer.crammer_singer(scores, labels, rows=2)
    assert np.array_equal(first, jax_peer.crammer_singer(scores, labels)[1][:2])


@pytest.mark.skipif(not HAVE_JAX, reason="jax and optax are not installed (pip install fusedloss[peers])")
def test_jax_workers_time_each_thread_count(no_torch):
    rows, raw, notes = bench(losses=("softmax_cross_entropy", "multiclass_hinge"), shapes=((512, 1000),), repeats=3)
    assert [(r["loss"], r["threads"]) for r in rows] == [
        ("softmax_cross_entropy", 1), ("softmax_cross_entropy", 2), ("multiclass_hinge", 1), ("multiclass_hinge", 2)]
    assert all(r["jax_ms"] > 0 for r in rows), notes
    assert not any("differs" in n or "failed" in n for n in notes), notes
    timings = {(t["loss"], t["contender"]): t for t in raw}
    for loss in ("softmax_cross_entropy", "multiclass_hinge"):
        one, two = timings[(loss, "jax@1")], timings[(loss, "jax@2")]
        assert len(one["times_s"]) == 3 and len(two["times_s"]) == 3
        # One XLA thread: the worker's CPU time never exceeds its wall time by more than the
        # dispatching thread's overlap (a machine's load can only lower the ratio).
        assert 0 < one["cores"] <= runner.JAX_CORES_SLACK, one
    versions = runner.machine_info()["versions"]
    assert versions["jax"] and versions["optax"]


@pytest.mark.skipif(not HAVE_JAX, reason="jax and optax are not installed (pip install fusedloss[peers])")
def test_worker_protocol_directly():
    peer = jax_peer.JaxPeer(1)
    try:
        hello = peer.wait_ready()
        assert hello["pjrt_nproc"] == "1" and "cpu" in hello["device"].lower()
        answer = peer.request({"cmd": "case", "loss": "mean_squared_error", "shape": [1000], "dtype": "float32",
                               "seed": 0, "crc": [0, 0], "rows": None, "grad_path": "unused.npy"}, 60)
        assert answer["ok"] is False and "inputs differ from the parent's" in answer["error"]
        answer = peer.request({"cmd": "case", "loss": "bogus", "shape": [10, 3], "dtype": "float32"}, 60)
        assert answer["ok"] is False
        assert answer.get("unsupported") is True
        assert peer.request({"cmd": "run"}, 60)["error"] == "RuntimeError: no case loaded"
    finally:
        peer.close()
    assert not peer.alive
    with pytest.raises(jax_peer.PeerError):
        peer.run()
